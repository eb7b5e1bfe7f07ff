//! The uniform block shared with every shader. Keep in sync with `struct Params` in
//! `shaders/common.wgsl`; the test below checks the size, and the shaders' validation checks the rest.

use bytemuck::{Pod, Zeroable};

use crate::params::{AnalysisParams, min_core_area_px};

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
    /// Was the first margin for a per-frame warning in `reduce.wgsl`; the processor decides it now.
    pub _pad0: f32,
    pub sharp_grad_px: f32,
    pub fluo_noise_sigmas: f32,
    pub partial_core_max_ratio: f32,
    pub _pad: f32,
    pub margins: [f32; 4],
}

/// Largest distance bound (px) the row pass's workgroup window holds (256 + 2 × bound ≤ 1024).
pub const MAX_DISTANCE_BOUND: u32 = 384;

impl GpuParams {
    pub fn new(p: &AnalysisParams, width: usize, height: usize) -> Self {
        let block = p.background_block_px;
        let mut margins = [0.0; 4];
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
            n_margins: margins_px.len().min(4) as u32,
            fluo_ratio: p.fluo_ratio,
            core_max_ratio: p.core_max_ratio,
            min_core_area: min_core_area_px(p),
            rim_search_px: p.mm_to_px(p.rim_search_mm),
            min_diffuse_area: std::f32::consts::FRAC_PI_4 * p.mm_to_px(p.min_diffuse_diameter_mm).powi(2),
            min_diffuse_compactness: p.min_diffuse_compactness,
            dist_bound: bound,
            _pad0: 0.0,
            sharp_grad_px: p.homogeneous_edge_gradient_per_mm * p.mm_per_px,
            fluo_noise_sigmas: p.fluo_noise_sigmas,
            partial_core_max_ratio: p.partial_core_max_ratio,
            _pad: 0.0,
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
        let src = crate::gpu::shaders::COMMON;
        let module = naga::front::wgsl::parse_str(src).unwrap();
        let (_, ty) = module.types.iter().find(|(_, t)| t.name.as_deref() == Some("Params")).unwrap();
        assert_eq!(ty.inner.size(module.to_ctx()), 96);
    }

    #[test]
    fn style_table_words_match_the_wgsl() {
        use crate::analysis::style;
        let src = crate::gpu::shaders::COMMON;
        assert!(src.contains(&format!("const STYLE_DRAWN: u32 = {}u;", style::DRAWN)));
        assert!(src.contains(&format!("const STYLE_WARN: u32 = {}u;", style::WARN)));
    }
}
