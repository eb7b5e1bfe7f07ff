//! The uniform block shared with every shader. Keep in sync with `struct Params` in
//! `shaders/common.wgsl`; the test below checks every member's name, offset and the size through naga's
//! reflection.

use bytemuck::{Pod, Zeroable};

use crate::params::{AnalysisParams, MAX_MARGINS, min_core_area_px};

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq)]
pub struct GpuParams {
    pub width: u32,
    pub height: u32,
    pub block: u32,
    pub grid_w: u32,
    pub grid_h: u32,
    pub dist_bound_i: u32,
    pub glint_level: u32,
    pub n_margins: u32,
    pub fluo_ratio: f32,
    pub core_max_ratio: f32,
    pub min_core_area: f32,
    pub rim_search_px: f32,
    pub min_diffuse_area: f32,
    pub min_diffuse_compactness: f32,
    pub dist_bound: f32,
    /// The threshold's hysteresis (`threshold::low_level`): on when `fluo_low_ratio < fluo_ratio`.
    pub fluo_low_ratio: f32,
    pub sharp_grad_px: f32,
    pub fluo_noise_sigmas: f32,
    pub partial_core_max_ratio: f32,
    pub fluo_low_sigmas: f32,
    pub margins: [f32; MAX_MARGINS],
}

/// Largest distance bound (px) the row pass's workgroup window holds (256 + 2 × bound ≤ 1024).
pub const MAX_DISTANCE_BOUND: u32 = 384;

impl GpuParams {
    /// The margins' distances the composite draws (as many as the uniform holds).
    pub fn margins_px(&self) -> &[f32] {
        &self.margins[..self.n_margins as usize]
    }

    pub fn new(p: &AnalysisParams, width: usize, height: usize) -> Self {
        let block = p.background_block_px;
        let mut margins = [0.0; MAX_MARGINS];
        let margins_px = p.margins_px();
        for (m, px) in margins.iter_mut().zip(&margins_px) {
            *m = *px;
        }
        let bound = p.distance_bound_px();
        Self {
            width: width as u32,
            height: height as u32,
            block,
            grid_w: (width as u32).div_ceil(block),
            grid_h: (height as u32).div_ceil(block),
            dist_bound_i: bound.ceil() as u32,
            glint_level: p.glint_level as u32,
            n_margins: margins_px.len().min(MAX_MARGINS) as u32,
            fluo_ratio: p.fluo_ratio,
            core_max_ratio: p.core_max_ratio,
            min_core_area: min_core_area_px(p),
            rim_search_px: p.mm_to_px(p.rim_search_mm),
            min_diffuse_area: std::f32::consts::FRAC_PI_4 * p.mm_to_px(p.min_diffuse_diameter_mm).powi(2),
            min_diffuse_compactness: p.min_diffuse_compactness,
            dist_bound: bound,
            fluo_low_ratio: p.fluo_low_ratio,
            sharp_grad_px: p.homogeneous_edge_gradient_per_mm * p.mm_per_px,
            fluo_noise_sigmas: p.fluo_noise_sigmas,
            partial_core_max_ratio: p.partial_core_max_ratio,
            fluo_low_sigmas: p.fluo_low_sigmas,
            margins,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_is_a_multiple_of_sixteen_bytes_and_matches_the_wgsl_layout() {
        assert_eq!(std::mem::size_of::<GpuParams>(), 96);
        let src = format!("{}\n{}", crate::gpu::prelude::wgsl(), crate::gpu::shaders::COMMON);
        let module = naga::front::wgsl::parse_str(&src).unwrap();
        let (_, ty) = module.types.iter().find(|(_, t)| t.name.as_deref() == Some("Params")).unwrap();
        assert_eq!(ty.inner.size(module.to_ctx()), 96);
        let naga::TypeInner::Struct { members, .. } = &ty.inner else { panic!("Params is not a struct") };
        let wgsl: Vec<(String, u32)> = members.iter().map(|m| (m.name.clone().unwrap_or_default(), m.offset)).collect();
        use std::mem::offset_of;
        let rust: Vec<(String, u32)> = [
            ("width", offset_of!(GpuParams, width)),
            ("height", offset_of!(GpuParams, height)),
            ("block", offset_of!(GpuParams, block)),
            ("grid_w", offset_of!(GpuParams, grid_w)),
            ("grid_h", offset_of!(GpuParams, grid_h)),
            ("dist_bound_i", offset_of!(GpuParams, dist_bound_i)),
            ("glint_level", offset_of!(GpuParams, glint_level)),
            ("n_margins", offset_of!(GpuParams, n_margins)),
            ("fluo_ratio", offset_of!(GpuParams, fluo_ratio)),
            ("core_max_ratio", offset_of!(GpuParams, core_max_ratio)),
            ("min_core_area", offset_of!(GpuParams, min_core_area)),
            ("rim_search_px", offset_of!(GpuParams, rim_search_px)),
            ("min_diffuse_area", offset_of!(GpuParams, min_diffuse_area)),
            ("min_diffuse_compactness", offset_of!(GpuParams, min_diffuse_compactness)),
            ("dist_bound", offset_of!(GpuParams, dist_bound)),
            ("fluo_low_ratio", offset_of!(GpuParams, fluo_low_ratio)),
            ("sharp_grad_px", offset_of!(GpuParams, sharp_grad_px)),
            ("fluo_noise_sigmas", offset_of!(GpuParams, fluo_noise_sigmas)),
            ("partial_core_max_ratio", offset_of!(GpuParams, partial_core_max_ratio)),
            ("fluo_low_sigmas", offset_of!(GpuParams, fluo_low_sigmas)),
            ("margins", offset_of!(GpuParams, margins)),
        ]
        .into_iter()
        .map(|(n, o)| (n.to_string(), o as u32))
        .collect();
        assert_eq!(wgsl, rust);
    }
}
