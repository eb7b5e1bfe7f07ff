//! Latency and drop statistics of the live path: added latency per frame (the metrics line's
//! `latency_ms`), summarised as p50/p99 over a window and over the whole run.

#[derive(Default, Clone, Debug)]
pub struct LatencyStats {
    window: Vec<f64>,
    all: Vec<f64>,
    pub frames: u64,
    pub overlay_off: u64,
    pub input_dropped: u64,
}

/// `stats::percentile`, 0 for no sample.
fn percentile(v: &mut [f64], q: f64) -> f64 {
    crate::stats::percentile(v, q).unwrap_or(0.0)
}

impl LatencyStats {
    pub fn add(&mut self, latency_ms: f64, overlay_on: bool) {
        self.frames += 1;
        self.overlay_off += (!overlay_on) as u64;
        self.window.push(latency_ms);
        self.all.push(latency_ms);
    }

    /// "p50 … p99 …" of the window since the last call, then clear the window.
    pub fn window_line(&mut self) -> String {
        let (p50, p99) = (percentile(&mut self.window, 0.5), percentile(&mut self.window, 0.99));
        let n = self.window.len();
        self.window.clear();
        format!(
            "{n} frames  added latency p50 {p50:.1} ms p99 {p99:.1} ms  overlay off {}  input dropped {}",
            self.overlay_off, self.input_dropped
        )
    }

    pub fn totals(&self) -> (f64, f64) {
        let mut v = self.all.clone();
        (percentile(&mut v, 0.5), percentile(&mut v, 0.99))
    }
}
