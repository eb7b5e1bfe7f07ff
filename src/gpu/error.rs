//! Typed GPU failures. The device's callbacks (uncaptured errors, device loss) and the bounded waits turn
//! into these, so callers decide by kind, never by reading a message: `DeviceLost` and `Timeout` mean the
//! device is gone (rebuild it), `OutOfMemory` and `Validation` that this frame failed, `Limit` that this
//! adapter cannot run this frame size or these settings at all (`auto` then takes the CPU).

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GpuError {
    /// The device is gone: the driver reset it, it was destroyed, or it was lost for any other reason.
    #[error("GPU device lost on {adapter}: {reason}")]
    DeviceLost { adapter: String, reason: String },
    /// A wait for the GPU ran past its bound; the device is treated as lost (a hung GPU must not freeze
    /// the analysis thread).
    #[error("GPU on {adapter} did not finish within {} ms (treated as a lost device)", .after.as_millis())]
    Timeout { adapter: String, after: Duration },
    #[error("GPU out of memory on {adapter}: {detail}")]
    OutOfMemory { adapter: String, detail: String },
    #[error("GPU validation error on {adapter}: {detail}")]
    Validation { adapter: String, detail: String },
    /// The adapter's limit is below what the frame size or the settings need.
    #[error("GPU adapter {adapter} cannot run this: {what} needs {limit} = {needed}, the adapter offers {available}")]
    Limit { adapter: String, what: String, limit: &'static str, needed: u64, available: u64 },
}

impl GpuError {
    /// The device cannot be used again: build a new one.
    pub fn is_lost(&self) -> bool {
        matches!(self, GpuError::DeviceLost { .. } | GpuError::Timeout { .. })
    }

    /// This adapter can never run the request; another backend can.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, GpuError::Limit { .. })
    }
}

/// The first `GpuError` in an `anyhow` chain, if any.
pub fn find(e: &anyhow::Error) -> Option<&GpuError> {
    e.chain().find_map(|c| c.downcast_ref::<GpuError>())
}
