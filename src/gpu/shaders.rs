//! The shader registry: every stage's WGSL, assembled with `common.wgsl`, and its entry points. Shaders
//! are compiled into the binary (`include_str!`), so an installed binary needs no `shaders/` folder.
//! Also what the pipelines need of a device (`pipeline_needs`) and the context opened for it
//! (`GpuContext::new`).

use std::collections::BTreeSet;

use super::context::{GpuContext, Needs};

pub const COMMON: &str = include_str!("../../shaders/common.wgsl");
/// Appended to the stages that hand out lesion slots by raster rank (`raster_rank`).
pub const RANK: &str = include_str!("../../shaders/rank.wgsl");
/// Appended to the stages that label with a tile's union-find in workgroup memory.
pub const TILE_UNION: &str = include_str!("../../shaders/tile_union.wgsl");
/// Appended to the stages that cut the ratio map and the white light at a level.
pub const CUT: &str = include_str!("../../shaders/cut.wgsl");
/// Appended to the stages that work on, or read the distance field of, the tiles near a core only.
pub const NEAR: &str = include_str!("../../shaders/near.wgsl");
/// Appended to the hysteresis stage: the transection / wound-bed check's spots, labelled as the
/// hysteresis labels (its border array and `merge_low`).
pub const SPOTS: &str = include_str!("../../shaders/spots.wgsl");
/// Appended to the stages that read the component labels (`label_at`).
pub const LABELS: &str = include_str!("../../shaders/labels.wgsl");
/// Appended to the stages that number rows or roots with a one-workgroup prefix sum.
pub const SCAN: &str = include_str!("../../shaders/scan.wgsl");

/// One WGSL file, its entry points and its bind-group layout.
pub struct Stage {
    pub name: &'static str,
    pub source: &'static str,
    pub entries: &'static [&'static str],
    /// Bindings after the uniform at 0: `true` where the shader writes.
    pub bindings: &'static [bool],
    /// Shared snippets appended after the stage's own source.
    pub includes: &'static [&'static str],
    /// Workgroup memory its largest entry point declares, bytes (checked against naga below).
    pub workgroup_bytes: u32,
}

// Workgroup memory of each stage's module (every `var<workgroup>` of the file, an upper bound for any one
// of its entry points); the test below recomputes them with naga.
const WG_NORMALIZE: u32 = 13352;
const WG_THRESHOLD: u32 = 0;
const WG_MORPHOLOGY: u32 = 768;
const WG_COMPONENTS: u32 = 3312;
const WG_HYSTERESIS: u32 = 11404;
const WG_REGIONS: u32 = 0;
const WG_DISTANCE: u32 = 9220;
const WG_REDUCE: u32 = 16;
const WG_COMPOSITE: u32 = 0;
const WG_SPOT_ROWS: u32 = 12;

pub const NORMALIZE: Stage = Stage {
    name: "normalize",
    source: include_str!("../../shaders/normalize.wgsl"),
    entries: &["block_median", "fit_background", "normalize"],
    bindings: &[false, true, true, true, true, true],
    includes: &[],
    workgroup_bytes: WG_NORMALIZE,
};
pub const THRESHOLD: Stage = Stage {
    name: "threshold",
    source: include_str!("../../shaders/threshold.wgsl"),
    entries: &["fluo_level"],
    bindings: &[true],
    includes: &[],
    workgroup_bytes: WG_THRESHOLD,
};
pub const MORPHOLOGY: Stage = Stage {
    name: "morphology",
    source: include_str!("../../shaders/morphology.wgsl"),
    entries: &["clean_mask", "clean_mask_strong"],
    bindings: &[false, false, false, true, false, false],
    includes: &[CUT],
    workgroup_bytes: WG_MORPHOLOGY,
};
pub const COMPONENTS: Stage = Stage {
    name: "components",
    source: include_str!("../../shaders/components.wgsl"),
    entries: &["local_merge", "merge", "scan_rows", "assign_ids", "compress"],
    bindings: &[false, true, true, true, true, true, false, true, true, true],
    includes: &[TILE_UNION, SCAN],
    workgroup_bytes: WG_COMPONENTS,
};
pub const HYSTERESIS: Stage = Stage {
    name: "hysteresis",
    source: include_str!("../../shaders/hysteresis.wgsl"),
    entries: &["local_low", "merge_low", "mark_strong", "spot_local", "spot_stats"],
    bindings: &[false, false, false, true, true, false, true, true],
    includes: &[TILE_UNION, CUT, SPOTS],
    workgroup_bytes: WG_HYSTERESIS,
};
pub const REGIONS: Stage = Stage {
    name: "regions",
    source: include_str!("../../shaders/regions.wgsl"),
    entries: &["select_cores", "assign_cores"],
    bindings: &[true, true, false, true],
    includes: &[RANK],
    workgroup_bytes: WG_REGIONS,
};
pub const DISTANCE: Stage = Stage {
    name: "distance",
    source: include_str!("../../shaders/distance.wgsl"),
    entries: &["activate", "write_seeds", "columns", "rows", "core_boxes"],
    bindings: &[false, true, true, true, true, true, false],
    includes: &[NEAR, LABELS],
    workgroup_bytes: WG_DISTANCE,
};
pub const REDUCE: Stage = Stage {
    name: "reduce",
    source: include_str!("../../shaders/reduce.wgsl"),
    entries: &["select_diffuse", "assign_diffuse", "mark_coreless", "lesion_stats", "levels", "subpixel"],
    bindings: &[false, false, false, false, true, false, true, false, true, true, false],
    includes: &[RANK, NEAR, LABELS],
    workgroup_bytes: WG_REDUCE,
};
pub const COMPOSITE: Stage = Stage {
    name: "composite",
    source: include_str!("../../shaders/composite.wgsl"),
    entries: &["composite", "composite_classes"],
    bindings: &[false, false, false, false, true, true, false, false],
    includes: &[NEAR],
    workgroup_bytes: WG_COMPOSITE,
};

/// The check's maps on the rows around its candidate spots, copied out with the segmentation (after
/// the spot table: spots.wgsl).
pub const SPOT_ROWS: Stage = Stage {
    name: "spot_rows",
    source: include_str!("../../shaders/spot_rows.wgsl"),
    entries: &["spot_copy_rows"],
    bindings: &[false, false, false, true, true],
    includes: &[],
    workgroup_bytes: WG_SPOT_ROWS,
};

pub const ALL: [&Stage; 10] = [&NORMALIZE, &THRESHOLD, &MORPHOLOGY, &HYSTERESIS, &COMPONENTS, &REGIONS, &DISTANCE, &REDUCE, &SPOT_ROWS, &COMPOSITE];

impl Stage {
    /// The stage's WGSL: the prelude generated from Rust, the common declarations, the stage's own
    /// source, its snippets.
    pub fn assembled(&self) -> String {
        let mut s = format!("{}\n{COMMON}\n{}", super::prelude::wgsl(), self.source);
        for inc in self.includes {
            s.push('\n');
            s.push_str(inc);
        }
        s
    }

    /// For each entry point (in `entries` order), the bindings its code uses, its own and that of the
    /// functions it calls, from naga's reflection of the assembled WGSL.
    pub fn used_bindings(&self) -> Result<Vec<Vec<u32>>, String> {
        Ok(self.reflect()?.into_iter().map(|(used, _, _)| used.into_iter().collect()).collect())
    }

    /// For each entry point, the bindings its code (calls followed) may write: a store or an atomic
    /// operation whose pointer leads to the binding. An entry point that binds a writable buffer but
    /// only loads from it moves it once, not twice (bench's traffic). A pointer reached through a
    /// function argument could be any binding: then every binding the entry point uses counts as written.
    pub fn written_bindings(&self) -> Result<Vec<Vec<u32>>, String> {
        Ok(self.reflect()?.into_iter().map(|(_, written, _)| written.into_iter().collect()).collect())
    }

    /// For each entry point, the bindings its code may read: a load (`atomicLoad` included) or an atomic
    /// operation whose pointer leads to the binding, or a use that is neither a load nor a store
    /// (counted as a read). A binding only stored to (the ratio map `normalize` writes) is not read.
    pub fn read_bindings(&self) -> Result<Vec<Vec<u32>>, String> {
        Ok(self.reflect()?.into_iter().map(|(_, _, read)| read.into_iter().collect()).collect())
    }

    /// Per entry point: (bindings used, bindings written, bindings read).
    fn reflect(&self) -> Result<Vec<(BTreeSet<u32>, BTreeSet<u32>, BTreeSet<u32>)>, String> {
        let src = self.assembled();
        let module = naga::front::wgsl::parse_str(&src).map_err(|e| format!("{}: {}", self.name, e.emit_to_string(&src)))?;
        self.entries
            .iter()
            .map(|name| {
                let ep = module.entry_points.iter().find(|e| e.name == *name).ok_or_else(|| format!("{}: no entry point {name}", self.name))?;
                let mut used = BTreeSet::new();
                let mut written = BTreeSet::new();
                let mut read = BTreeSet::new();
                // Bindings whose every use in the code is the pointer of a store.
                let mut stored_only_candidates = BTreeSet::new();
                let mut other_use = BTreeSet::new();
                let mut any_written = false;
                let mut visited = std::collections::HashSet::new();
                let mut stack = vec![&ep.function];
                while let Some(f) = stack.pop() {
                    for (_, e) in f.expressions.iter() {
                        if let naga::Expression::GlobalVariable(g) = e {
                            if let Some(b) = &module.global_variables[*g].binding {
                                used.insert(b.binding);
                            }
                        }
                    }
                    let binding_of = |p| match pointer_root(f, p) {
                        PointerRoot::Global(g) => Ok(module.global_variables[g].binding.as_ref().map(|b| b.binding)),
                        PointerRoot::Local => Ok(None),
                        PointerRoot::Unknown => Err(()),
                    };
                    let mut stores = Vec::new();
                    let mut atomics = Vec::new();
                    stores_in(&f.body, &mut stores, &mut atomics);
                    for (p, loads_too) in stores.iter().map(|p| (*p, false)).chain(atomics.iter().map(|p| (*p, true))) {
                        match binding_of(p) {
                            Ok(Some(b)) => {
                                written.insert(b);
                                if loads_too {
                                    read.insert(b);
                                } else {
                                    stored_only_candidates.insert(b);
                                }
                            }
                            Ok(None) => {}
                            Err(()) => any_written = true,
                        }
                    }
                    for (_, e) in f.expressions.iter() {
                        match e {
                            naga::Expression::Load { pointer } => match binding_of(*pointer) {
                                Ok(Some(b)) => {
                                    read.insert(b);
                                }
                                Ok(None) => {}
                                Err(()) => any_written = true,
                            },
                            // A use other than through a load, a store or an atomic (arrayLength):
                            // counted as a read.
                            naga::Expression::ArrayLength(p) => {
                                if let Ok(Some(b)) = binding_of(*p) {
                                    other_use.insert(b);
                                }
                            }
                            _ => {}
                        }
                    }
                    let mut calls = Vec::new();
                    calls_in(&f.body, &mut calls);
                    for h in calls {
                        if visited.insert(h) {
                            stack.push(&module.functions[h]);
                        }
                    }
                }
                if any_written {
                    written = used.clone();
                    read = used.clone();
                }
                // A used binding never stored to is read (the uniform, buffers read through a load).
                for b in &used {
                    if !stored_only_candidates.contains(b) || other_use.contains(b) {
                        read.insert(*b);
                    }
                }
                Ok((used, written, read))
            })
            .collect()
    }

    /// Index of a named entry point (the registry's order is the pipelines' order).
    pub fn entry(&self, name: &str) -> usize {
        self.entries.iter().position(|e| *e == name).unwrap_or_else(|| panic!("stage {} has no entry point {name}", self.name))
    }
}

/// The functions a block calls, nested blocks included.
fn calls_in(block: &naga::Block, out: &mut Vec<naga::Handle<naga::Function>>) {
    for st in block.iter() {
        match st {
            naga::Statement::Call { function, .. } => out.push(*function),
            naga::Statement::Block(b) => calls_in(b, out),
            naga::Statement::If { accept, reject, .. } => {
                calls_in(accept, out);
                calls_in(reject, out);
            }
            naga::Statement::Loop { body, continuing, .. } => {
                calls_in(body, out);
                calls_in(continuing, out);
            }
            naga::Statement::Switch { cases, .. } => cases.iter().for_each(|c| calls_in(&c.body, out)),
            _ => {}
        }
    }
}

/// Where a pointer expression leads: a global variable, a function's own variable, or (through an
/// argument) somewhere unknown.
enum PointerRoot {
    Global(naga::Handle<naga::GlobalVariable>),
    Local,
    Unknown,
}

fn pointer_root(f: &naga::Function, mut p: naga::Handle<naga::Expression>) -> PointerRoot {
    loop {
        match f.expressions[p] {
            naga::Expression::Access { base, .. } | naga::Expression::AccessIndex { base, .. } => p = base,
            naga::Expression::GlobalVariable(g) => return PointerRoot::Global(g),
            naga::Expression::LocalVariable(_) => return PointerRoot::Local,
            _ => return PointerRoot::Unknown,
        }
    }
}

/// The pointers a block stores through, and those it operates on atomically (a read and a write),
/// nested blocks included.
fn stores_in(block: &naga::Block, stores: &mut Vec<naga::Handle<naga::Expression>>, atomics: &mut Vec<naga::Handle<naga::Expression>>) {
    for st in block.iter() {
        match st {
            naga::Statement::Store { pointer, .. } => stores.push(*pointer),
            naga::Statement::Atomic { pointer, .. } => atomics.push(*pointer),
            naga::Statement::Block(b) => stores_in(b, stores, atomics),
            naga::Statement::If { accept, reject, .. } => {
                stores_in(accept, stores, atomics);
                stores_in(reject, stores, atomics);
            }
            naga::Statement::Loop { body, continuing, .. } => {
                stores_in(body, stores, atomics);
                stores_in(continuing, stores, atomics);
            }
            naga::Statement::Switch { cases, .. } => cases.iter().for_each(|c| stores_in(&c.body, stores, atomics)),
            _ => {}
        }
    }
}

/// What the pipelines need of any device, whatever the frame size.
pub fn pipeline_needs() -> Needs {
    Needs {
        storage_buffers_per_stage: ALL.iter().map(|s| s.bindings.len() as u32).max().unwrap_or(0),
        workgroup_storage_bytes: ALL.iter().map(|s| s.workgroup_bytes).max().unwrap_or(0),
        largest_buffer_bytes: 0,
    }
}

impl GpuContext {
    /// The best adapter (a discrete or integrated GPU if any, else a software one) with a device opened
    /// for what the pipelines need (`pipeline_needs`). Here rather than in `context`, which knows no
    /// shader: the registry depends on the context, never the other way round.
    pub fn new() -> anyhow::Result<Self> {
        Self::with_needs(pipeline_needs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reflection sees through calls: `assign_cores` reads `table` and `stats` only inside
    /// `raster_rank` (and writes the cores' boxes, 4), `select_cores` never touches the boxes, the distance
    /// rows never touch the labels, and only the hysteresis's mask pass the parents.
    #[test]
    fn used_bindings_follow_calls() {
        let regions = REGIONS.used_bindings().unwrap();
        assert_eq!(regions[REGIONS.entry("assign_cores")], vec![0, 1, 2, 3, 4]);
        assert!(!regions[REGIONS.entry("select_cores")].contains(&4));
        let distance = DISTANCE.used_bindings().unwrap();
        assert!(!distance[DISTANCE.entry("rows")].contains(&1), "{:?}", distance[DISTANCE.entry("rows")]);
        // The parent array (binding 5) is the hysteresis's alone: the plain mask pass does not count it.
        let morphology = MORPHOLOGY.used_bindings().unwrap();
        assert!(!morphology[MORPHOLOGY.entry("clean_mask")].contains(&5), "{:?}", morphology[MORPHOLOGY.entry("clean_mask")]);
        assert!(morphology[MORPHOLOGY.entry("clean_mask_strong")].contains(&5));
        // The hysteresis's mask pass cuts nothing itself: it reads the low mask, not the ratio (1) nor the
        // glint bits (2).
        assert_eq!(morphology[MORPHOLOGY.entry("clean_mask_strong")], vec![0, 4, 5, 6]);
    }

    /// Writes are told from loads: `assign_ids` writes the roots, the records and the root bits' ids and
    /// neither reads nor writes the labels; `compress` stores the labels into the parent buffer;
    /// `select_cores` writes the stats and the table but only reads the roots.
    #[test]
    fn written_bindings_are_the_stores_and_atomics() {
        let c = COMPONENTS.written_bindings().unwrap();
        // compress writes the labels (2), adds each pixel to its component's statistics (4), counts the
        // tile-local roots (5), marks its tile drawn where it holds fluorescence (9) and writes each
        // pixel's tile-local root (10).
        assert_eq!(c[COMPONENTS.entry("compress")], vec![2, 4, 5, 9, 10]);
        assert_eq!(c[COMPONENTS.entry("assign_ids")], vec![3, 4, 6]);
        assert!(!COMPONENTS.used_bindings().unwrap()[COMPONENTS.entry("assign_ids")].contains(&2));
        let r = REGIONS.written_bindings().unwrap();
        assert_eq!(r[REGIONS.entry("select_cores")], vec![1, 2]);
        // Reads: local_merge stores the parent array without loading it (and adds its roots to the
        // table's row counts and sets their bits, both atomics); normalize stores the ratio.
        let read = COMPONENTS.read_bindings().unwrap();
        assert_eq!(read[COMPONENTS.entry("local_merge")], vec![0, 1, 5, 6]);
        // local_merge writes the border array (8), no word a pixel.
        assert_eq!(c[COMPONENTS.entry("local_merge")], vec![5, 6, 8]);
        // merge works on the border array alone: neither the mask (1) nor the labels (2).
        assert!(!COMPONENTS.used_bindings().unwrap()[COMPONENTS.entry("merge")].iter().any(|b| *b == 1 || *b == 2));
        // The hysteresis's border merge reads the border array (5) and the tiles' flags (8), not the low
        // mask's bytes (4).
        assert_eq!(HYSTERESIS.used_bindings().unwrap()[HYSTERESIS.entry("merge_low")], vec![0, 5, 8]);
        // compress reads the border array without writing it, and stores the labels without loading them.
        assert!(!read[COMPONENTS.entry("compress")].contains(&2), "{:?}", read[COMPONENTS.entry("compress")]);
        assert!(read[COMPONENTS.entry("compress")].contains(&8));
        let n = NORMALIZE.read_bindings().unwrap();
        assert!(!n[NORMALIZE.entry("normalize")].contains(&4), "{:?}", n[NORMALIZE.entry("normalize")]);
        // Every written binding is declared writable in the registry.
        for stage in ALL {
            for (k, written) in stage.written_bindings().unwrap().iter().enumerate() {
                for b in written {
                    assert!(*b > 0 && stage.bindings[*b as usize - 1], "{}: {} writes binding {b}", stage.name, stage.entries[k]);
                }
            }
        }
    }

    /// Every shader parses and validates with naga (no GPU needed), and declares the entry points and the
    /// bindings the registry says.
    #[test]
    fn every_shader_validates_and_matches_the_registry() {
        for stage in ALL {
            let src = stage.assembled();
            let module = naga::front::wgsl::parse_str(&src).unwrap_or_else(|e| panic!("{}: {}", stage.name, e.emit_to_string(&src)));
            naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::empty())
                .validate(&module)
                .unwrap_or_else(|e| panic!("{}: {}", stage.name, e.emit_to_string(&src)));
            for e in stage.entries {
                assert!(module.entry_points.iter().any(|ep| ep.name == *e), "{}: no entry point {e}", stage.name);
            }
            let mut bindings: Vec<u32> = module
                .global_variables
                .iter()
                .filter_map(|(_, v)| v.binding.as_ref().map(|b| b.binding))
                .collect();
            bindings.sort_unstable();
            let wg: u32 = module
                .global_variables
                .iter()
                .filter(|(_, v)| v.space == naga::AddressSpace::WorkGroup)
                .map(|(_, v)| module.types[v.ty].inner.size(module.to_ctx()))
                .sum();
            assert_eq!(wg, stage.workgroup_bytes, "{}: workgroup memory", stage.name);
            // The layout's access, binding by binding, is the WGSL's: read-only where it declares `read`.
            for (_, v) in module.global_variables.iter() {
                if let (Some(b), naga::AddressSpace::Storage { access }) = (&v.binding, v.space) {
                    let writes = access.contains(naga::StorageAccess::STORE);
                    assert_eq!(stage.bindings[b.binding as usize - 1], writes, "{}: binding {} access", stage.name, b.binding);
                }
            }
            let used = stage.used_bindings().unwrap();
            assert!(used.iter().all(|u| !u.is_empty()), "{}: an entry point binds nothing", stage.name);
            let expected: Vec<u32> = (0..=stage.bindings.len() as u32).collect();
            assert_eq!(bindings, expected, "{}: bindings", stage.name);
        }
    }
}
