//! The shader registry: every stage's WGSL, assembled with `common.wgsl`, and its entry points. Shaders
//! are compiled into the binary (`include_str!`), so an installed binary needs no `shaders/` folder.

pub const COMMON: &str = include_str!("../../shaders/common.wgsl");

/// One WGSL file, its entry points and its bind-group layout.
pub struct Stage {
    pub name: &'static str,
    pub source: &'static str,
    pub entries: &'static [&'static str],
    /// Bindings after the uniform at 0: `true` where the shader writes.
    pub bindings: &'static [bool],
}

pub const NORMALIZE: Stage = Stage {
    name: "normalize",
    source: include_str!("../../shaders/normalize.wgsl"),
    entries: &["block_median", "fit_background", "normalize"],
    bindings: &[false, true, true, true],
};
pub const THRESHOLD: Stage = Stage {
    name: "threshold",
    source: include_str!("../../shaders/threshold.wgsl"),
    entries: &["ratio_hist", "fluo_level", "threshold"],
    bindings: &[false, false, true, true],
};
pub const MORPHOLOGY: Stage = Stage {
    name: "morphology",
    source: include_str!("../../shaders/morphology.wgsl"),
    entries: &["erode", "dilate"],
    bindings: &[false, true],
};
pub const COMPONENTS: Stage = Stage {
    name: "components",
    source: include_str!("../../shaders/components.wgsl"),
    entries: &["local_merge", "merge_bg", "merge_fl", "compress_bg", "compress_fl"],
    bindings: &[false, true, true],
};
pub const REGIONS: Stage = Stage {
    name: "regions",
    source: include_str!("../../shaders/regions.wgsl"),
    entries: &["region_stats", "select_cores"],
    bindings: &[false, false, true, true, true],
};
pub const DISTANCE: Stage = Stage {
    name: "distance",
    source: include_str!("../../shaders/distance.wgsl"),
    entries: &["write_seeds", "columns", "rows"],
    bindings: &[false, false, true, true, true],
};
pub const REDUCE: Stage = Stage {
    name: "reduce",
    source: include_str!("../../shaders/reduce.wgsl"),
    entries: &["mark_rims", "select_diffuse", "lesion_stats", "levels", "subpixel"],
    bindings: &[false, false, false, false, true, true, false, true],
};
pub const COMPOSITE: Stage = Stage {
    name: "composite",
    source: include_str!("../../shaders/composite.wgsl"),
    entries: &["composite"],
    bindings: &[false, false, false, false, false, false, true, true],
};

pub const ALL: [&Stage; 8] = [&NORMALIZE, &THRESHOLD, &MORPHOLOGY, &COMPONENTS, &REGIONS, &DISTANCE, &REDUCE, &COMPOSITE];

impl Stage {
    /// The stage's WGSL with the common declarations prepended.
    pub fn assembled(&self) -> String {
        format!("{COMMON}\n{}", self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let expected: Vec<u32> = (0..=stage.bindings.len() as u32).collect();
            assert_eq!(bindings, expected, "{}: bindings", stage.name);
        }
    }
}
