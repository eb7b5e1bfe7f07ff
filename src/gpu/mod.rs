//! The wgpu backend: the per-frame analysis as compute shaders (`shaders/*.wgsl`), one pipeline per entry
//! point with explicit bind-group layouts, buffers made once per frame size. Owns adapter choice
//! (`context`), the shader registry (`shaders`), the uniform mirrored in WGSL (`uniforms`), the
//! `Analyzer` implementation (`analyzer`) and the CPU's finishing of the composite's marks (`marks`). Knows nothing of GStreamer or the CLI.

pub mod shaders;
pub mod analyzer;
pub mod context;
pub mod error;
pub(crate) mod marks;
pub(crate) mod prelude;
pub(crate) mod uniforms;

pub use analyzer::GpuAnalyzer;
pub use context::GpuContext;
pub use error::GpuError;
