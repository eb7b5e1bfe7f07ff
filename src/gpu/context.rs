//! Adapter and device: which GPU the analysis runs on, with which limits, and what has gone wrong with it.
//! `auto` prefers a hardware adapter, then a software one (Mesa's lavapipe), and reports none if neither
//! exists. The device starts from `Limits::downlevel_defaults()` raised only by what the pipelines need
//! (`Needs`, given by the shader registry: `shaders::pipeline_needs`; this file knows no shader); a
//! frame size that needs more raises them again (`ensure`), or fails with
//! `GpuError::Limit` naming the limit. Uncaptured errors and device loss are recorded by the device's
//! callbacks (loss as a flag) and returned as typed `GpuError`s; waits are bounded (`wait`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Result, anyhow};

use super::error::GpuError;

/// Longest wait for one submission when no frame budget says otherwise (offline commands: a 4K frame on
/// a software adapter takes seconds).
pub const OFFLINE_WAIT: Duration = Duration::from_secs(60);

/// What the GPU path needs of a device: the pipelines' fixed needs, and per frame size the largest
/// buffer (every buffer is bound whole, so the largest buffer is also the largest binding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Needs {
    pub storage_buffers_per_stage: u32,
    pub workgroup_storage_bytes: u32,
    pub largest_buffer_bytes: u64,
}

impl Needs {
    /// `downlevel_defaults()` raised by these needs (never lowered).
    pub fn limits(&self) -> wgpu::Limits {
        let mut l = wgpu::Limits::downlevel_defaults();
        l.max_storage_buffers_per_shader_stage = l.max_storage_buffers_per_shader_stage.max(self.storage_buffers_per_stage);
        l.max_compute_workgroup_storage_size = l.max_compute_workgroup_storage_size.max(self.workgroup_storage_bytes);
        l.max_storage_buffer_binding_size = l.max_storage_buffer_binding_size.max(self.largest_buffer_bytes);
        l.max_buffer_size = l.max_buffer_size.max(self.largest_buffer_bytes);
        l
    }

    /// The first of `limits` (what `have` offers) that falls short of these needs: (name, needed, offered).
    pub fn shortfall(&self, have: &wgpu::Limits) -> Option<(&'static str, u64, u64)> {
        let want = self.limits();
        [
            ("max_storage_buffers_per_shader_stage", want.max_storage_buffers_per_shader_stage as u64, have.max_storage_buffers_per_shader_stage as u64),
            ("max_compute_workgroup_storage_size", want.max_compute_workgroup_storage_size as u64, have.max_compute_workgroup_storage_size as u64),
            ("max_storage_buffer_binding_size", self.largest_buffer_bytes, have.max_storage_buffer_binding_size),
            ("max_buffer_size", self.largest_buffer_bytes, have.max_buffer_size),
            ("max_compute_invocations_per_workgroup", want.max_compute_invocations_per_workgroup as u64, have.max_compute_invocations_per_workgroup as u64),
            ("max_compute_workgroup_size_x", want.max_compute_workgroup_size_x as u64, have.max_compute_workgroup_size_x as u64),
        ]
        .into_iter()
        .find(|(_, need, got)| need > got)
    }
}

/// What the device's callbacks saw: loss as a flag (checked before and after every wait), the first
/// uncaptured error.
#[derive(Default)]
struct Faults {
    lost: AtomicBool,
    lost_reason: Mutex<Option<String>>,
    error: Mutex<Option<GpuError>>,
}

pub struct GpuContext {
    adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub timestamps: bool,
    pub timestamp_period_ns: f32,
    /// The limits the device was opened with.
    needs: Needs,
    faults: Arc<Faults>,
    /// Longest wait for a submission; past it the device counts as lost.
    pub wait_timeout: Duration,
    /// Command buffers submitted through `submit` so far.
    submissions: std::sync::atomic::AtomicUsize,
}

impl GpuContext {
    /// The best adapter (a discrete or integrated GPU if any, else a software one) with a device opened
    /// for `needs`; an adapter that cannot meet them is `GpuError::Limit`. `GpuContext::new` (in
    /// `shaders`, which knows the pipelines) opens it for what the pipelines need.
    pub fn with_needs(needs: Needs) -> Result<Self> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        // Vulkan/Metal/DX12 unless WGPU_BACKEND says otherwise: the GL probe only adds noise and no compute.
        desc.backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY);
        let instance = wgpu::Instance::new(desc);
        let mut adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
        let rank = |a: &wgpu::Adapter| match a.get_info().device_type {
            wgpu::DeviceType::DiscreteGpu => 0,
            wgpu::DeviceType::IntegratedGpu => 1,
            wgpu::DeviceType::VirtualGpu => 2,
            wgpu::DeviceType::Cpu => 3,
            wgpu::DeviceType::Other => 4,
        };
        let backend_rank = |a: &wgpu::Adapter| match a.get_info().backend {
            wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
            _ => 1,
        };
        adapters.sort_by_key(|a| (rank(a), backend_rank(a)));
        let adapter = adapters
            .into_iter()
            // The composite is dispatched indirectly, from the drawn tiles' count the segmentation leaves.
            .find(|a| a.get_downlevel_capabilities().flags.contains(wgpu::DownlevelFlags::COMPUTE_SHADERS | wgpu::DownlevelFlags::INDIRECT_EXECUTION))
            .ok_or_else(|| anyhow!("no GPU adapter with compute shaders and indirect dispatch (install mesa-vulkan-drivers for the software one)"))?;
        let info = adapter.get_info();
        let timestamps = adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        let (device, queue, faults) = open(&adapter, &info, timestamps, &needs, "the GPU pipelines")?;
        let timestamp_period_ns = queue.get_timestamp_period();
        Ok(Self { adapter, device, queue, info, timestamps, timestamp_period_ns, needs, faults, wait_timeout: OFFLINE_WAIT, submissions: Default::default() })
    }

    /// Makes sure the device meets `needs` (`what` names the request in the error): reopens it with
    /// raised limits when the adapter offers them (true: everything made on the old device must be made
    /// again), else `GpuError::Limit`.
    pub fn ensure(&mut self, needs: Needs, what: &str) -> Result<bool, GpuError> {
        if self.needs.shortfall(&self.device.limits()).is_none() && needs.shortfall(&self.device.limits()).is_none() {
            return Ok(false);
        }
        let merged = Needs {
            storage_buffers_per_stage: needs.storage_buffers_per_stage.max(self.needs.storage_buffers_per_stage),
            workgroup_storage_bytes: needs.workgroup_storage_bytes.max(self.needs.workgroup_storage_bytes),
            largest_buffer_bytes: needs.largest_buffer_bytes.max(self.needs.largest_buffer_bytes),
        };
        let (device, queue, faults) = open(&self.adapter, &self.info, self.timestamps, &merged, what).map_err(|e| match e.downcast::<GpuError>() {
            Ok(g) => g,
            Err(e) => GpuError::Validation { adapter: self.describe(), detail: format!("{e:#}") },
        })?;
        self.device.destroy();
        (self.device, self.queue, self.faults, self.needs) = (device, queue, faults, merged);
        self.timestamp_period_ns = self.queue.get_timestamp_period();
        Ok(true)
    }

    pub fn describe(&self) -> String {
        format!("gpu: {} ({:?}, {:?})", self.info.name, self.info.backend, self.info.device_type)
    }

    fn adapter_name(&self) -> String {
        format!("{} ({:?})", self.info.name, self.info.backend)
    }

    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// `DeviceLost` once the loss callback (or a timed-out wait) has set the flag.
    pub fn check_lost(&self) -> Result<(), GpuError> {
        if self.faults.lost.load(Ordering::Acquire) {
            let reason = self.faults.lost_reason.lock().ok().and_then(|r| r.clone()).unwrap_or_else(|| "lost".into());
            return Err(GpuError::DeviceLost { adapter: self.adapter_name(), reason });
        }
        Ok(())
    }

    /// The device's state: lost (the flag the loss callback sets), else the first uncaptured error since
    /// the last call, else fine.
    pub fn check(&self) -> Result<(), GpuError> {
        self.check_lost()?;
        match self.faults.error.lock().ok().and_then(|mut e| e.take()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Submits `commands` to the queue, counted (`submissions`).
    pub fn submit(&self, commands: wgpu::CommandBuffer) {
        self.submissions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.queue.submit([commands]);
    }

    /// Submissions made through `submit` since the context was opened (a frame of the analysis is one).
    pub fn submissions(&self) -> usize {
        self.submissions.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits for the submissions so far, at most `wait_timeout`; a timeout marks the device lost (its
    /// state is unknown: the analyzer must be rebuilt) and is `GpuError::Timeout`.
    pub fn wait(&self) -> Result<(), GpuError> {
        self.check()?;
        match self.device.poll(wgpu::PollType::Wait { submission_index: None, timeout: Some(self.wait_timeout) }) {
            Ok(_) => self.check(),
            Err(wgpu::PollError::Timeout) => {
                self.mark_lost(format!("no answer within {} ms", self.wait_timeout.as_millis()));
                Err(GpuError::Timeout { adapter: self.adapter_name(), after: self.wait_timeout })
            }
            Err(e) => {
                self.check()?;
                Err(GpuError::Validation { adapter: self.adapter_name(), detail: e.to_string() })
            }
        }
    }

    fn mark_lost(&self, reason: String) {
        if let Ok(mut r) = self.faults.lost_reason.lock() {
            r.get_or_insert(reason);
        }
        self.faults.lost.store(true, Ordering::Release);
    }

    /// A fault drill: destroys the device (`Device::destroy`), as a driver reset would lose it.
    pub fn destroy_device(&self) {
        self.device.destroy();
    }
}

/// Opens a device on `adapter` with `downlevel_defaults()` raised by `needs`, its callbacks wired to a
/// fresh `Faults`.
fn open(adapter: &wgpu::Adapter, info: &wgpu::AdapterInfo, timestamps: bool, needs: &Needs, what: &str) -> Result<(wgpu::Device, wgpu::Queue, Arc<Faults>)> {
    let adapter_name = format!("{} ({:?})", info.name, info.backend);
    if let Some((limit, needed, available)) = needs.shortfall(&adapter.limits()) {
        return Err(GpuError::Limit { adapter: adapter_name, what: what.to_string(), limit, needed, available }.into());
    }
    let features = if timestamps { wgpu::Features::TIMESTAMP_QUERY } else { wgpu::Features::empty() };
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("nirf-margin"),
        required_features: features,
        required_limits: needs.limits(),
        ..Default::default()
    }))
    .map_err(|e| anyhow!("GPU adapter {adapter_name}: could not open a device: {e}"))?;
    let faults = Arc::new(Faults::default());
    let sink = faults.clone();
    let name = adapter_name.clone();
    device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
        let typed = match &e {
            wgpu::Error::OutOfMemory { .. } => GpuError::OutOfMemory { adapter: name.clone(), detail: e.to_string() },
            _ => GpuError::Validation { adapter: name.clone(), detail: e.to_string() },
        };
        if let Ok(mut slot) = sink.error.lock() {
            slot.get_or_insert(typed);
        }
    }));
    let lost = faults.clone();
    device.set_device_lost_callback(move |reason, msg| {
        if let Ok(mut r) = lost.lost_reason.lock() {
            r.get_or_insert_with(|| format!("{reason:?}: {msg}"));
        }
        lost.lost.store(true, Ordering::Release);
    });
    Ok((device, queue, faults))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_start_from_downlevel_defaults_and_rise_only_by_the_needs() {
        let base = wgpu::Limits::downlevel_defaults();
        let small = Needs { storage_buffers_per_stage: 8, workgroup_storage_bytes: 4096, largest_buffer_bytes: 1 << 20 };
        let l = small.limits();
        assert_eq!(l.max_storage_buffers_per_shader_stage, 8);
        assert_eq!(l.max_storage_buffer_binding_size, base.max_storage_buffer_binding_size);
        assert_eq!(l.max_buffer_size, base.max_buffer_size);
        assert_eq!(l.max_compute_workgroup_storage_size, base.max_compute_workgroup_storage_size);
        assert_eq!(l.max_texture_dimension_2d, base.max_texture_dimension_2d);
        let big = Needs { largest_buffer_bytes: 1 << 30, ..small };
        assert_eq!(big.limits().max_storage_buffer_binding_size, 1 << 30);
        // An adapter with the common 128 MiB binding limit falls short, and says which limit.
        let have = small.limits();
        assert_eq!(big.shortfall(&have).map(|s| s.0), Some("max_storage_buffer_binding_size"));
        assert_eq!(small.shortfall(&base).map(|s| s.0), Some("max_storage_buffers_per_shader_stage"));
        assert_eq!(small.shortfall(&small.limits()), None);
    }
}
