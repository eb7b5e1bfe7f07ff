//! Adapter and device: which GPU the analysis runs on. `auto` prefers a hardware adapter, then a
//! software one (Mesa's lavapipe), and reports none if neither exists. Uncaptured device errors and
//! device loss are recorded for the analyzer to turn into `Err`s instead of panics.

use std::sync::{Arc, Mutex};

use anyhow::{Result, anyhow};

pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub timestamps: bool,
    pub timestamp_period_ns: f32,
    errors: Arc<Mutex<Option<String>>>,
}

impl GpuContext {
    /// The best adapter: a discrete or integrated GPU if any, else a software one.
    pub fn new() -> Result<Self> {
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
            .find(|a| a.get_downlevel_capabilities().flags.contains(wgpu::DownlevelFlags::COMPUTE_SHADERS))
            .ok_or_else(|| anyhow!("no GPU adapter with compute shaders (install mesa-vulkan-drivers for the software one)"))?;
        let info = adapter.get_info();
        let timestamps = adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        let features = if timestamps { wgpu::Features::TIMESTAMP_QUERY } else { wgpu::Features::empty() };
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("nirf-margin"),
            required_features: features,
            required_limits: limits,
            ..Default::default()
        }))
        .map_err(|e| anyhow!("GPU adapter {} ({:?}): could not open a device: {e}", info.name, info.backend))?;
        let errors: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut slot) = sink.lock() {
                slot.get_or_insert_with(|| e.to_string());
            }
        }));
        let lost = errors.clone();
        device.set_device_lost_callback(move |reason, msg| {
            if let Ok(mut slot) = lost.lock() {
                slot.get_or_insert_with(|| format!("GPU device lost ({reason:?}): {msg}"));
            }
        });
        let timestamp_period_ns = queue.get_timestamp_period();
        Ok(Self { device, queue, info, timestamps, timestamp_period_ns, errors })
    }

    pub fn describe(&self) -> String {
        format!("gpu: {} ({:?}, {:?})", self.info.name, self.info.backend, self.info.device_type)
    }

    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// The first device error since the last call, if any.
    pub fn take_error(&self) -> Option<String> {
        self.errors.lock().ok().and_then(|mut e| e.take())
    }
}
