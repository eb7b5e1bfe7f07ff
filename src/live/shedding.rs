//! Recording yields to the display: while the display is under pressure the recording branches shed
//! frames, so that the recordings degrade (dropped recorded frames, counted) before the monitor does.
//!
//! The leaky queues (`recording`) drop a frame only once an encoder is a third of a second behind; on two
//! cores at 1080p that is too late: the encoders then share the cores with the analysis and the display,
//! and the display loses frames first (the README's 1080p soak: 31 input frames dropped, 25 late at the
//! sink). So each branch's leaky queue is guarded by a gate on its sink pad that passes one frame in
//! 2^`level` (every frame at level 0); `ShedControl` sets the level from what the display shows, once a
//! frame:
//! - pressure: a frame the monitor lost, that is an input frame dropped in front of the element or a
//!   frame dropped late at the display sink. A frame's added latency is no sign of its own: on two cores
//!   at 720p it passes two frame periods now and then without any recording (a 70.6-ms gap in the
//!   README's idle soak), and shedding on it cost a fifth of every recording without mending it (a
//!   30-s soak);
//! - under pressure the level goes up one step (at most one step in `RAISE_EVERY`, so that a step can take
//!   effect before the next), up to `MAX_LEVEL` (one frame in 32: about one a second at 30 frames/s, so a
//!   recording is never empty);
//! - after `CALM_FOR` without pressure it comes down one step, and so on back to 0.
//!
//! The shed frames are counted with the queue's own drops (`RecBranch::dropped`), so the statistics, the
//! metrics' `rec_dropped` and the "REC DROPPING" badge show them; the three branches pass the same frame
//! numbers of their own streams (each gate counts its own frames). Plain data and a controller with no
//! clock of its own (`observe` is given the time), so the policy is tested without a pipeline.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The highest level: one recorded frame in 2^5 = 32.
pub const MAX_LEVEL: u32 = 5;
/// The shortest time between two raises of the level.
pub const RAISE_EVERY: Duration = Duration::from_millis(250);
/// How long the display must be free of pressure before the level comes down a step.
pub const CALM_FOR: Duration = Duration::from_secs(10);

/// The level every recording gate reads (shared by the gates and the controller).
#[derive(Default, Debug)]
pub struct ShedLevel(AtomicU32);

impl ShedLevel {
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set(&self, level: u32) {
        self.0.store(level.min(MAX_LEVEL), Ordering::Relaxed);
    }
}

/// One branch's gate: which of its frames pass at the shared level, and how many it shed.
#[derive(Debug)]
pub struct Gate {
    level: Arc<ShedLevel>,
    seen: AtomicU64,
    shed: AtomicU64,
}

impl Gate {
    pub fn new(level: Arc<ShedLevel>) -> Self {
        Self { level, seen: AtomicU64::new(0), shed: AtomicU64::new(0) }
    }

    /// Whether the next frame passes: frame n of the branch passes when n is a multiple of 2^level.
    /// Called from the one streaming thread of the branch's tee, in frame order.
    pub fn pass(&self) -> bool {
        let n = self.seen.fetch_add(1, Ordering::Relaxed);
        let pass = n & ((1u64 << self.level.get()) - 1) == 0;
        if !pass {
            self.shed.fetch_add(1, Ordering::Relaxed);
        }
        pass
    }

    /// Frames this gate dropped so far.
    pub fn shed(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }
}

/// What the display showed up to one frame: the monitor's losses so far.
#[derive(Clone, Copy, Debug, Default)]
pub struct DisplaySigns {
    /// Input frames dropped in front of the element, in all (monotone).
    pub input_dropped: u64,
    /// Frames the display sink dropped late, in all (monotone), where the sink counts them.
    pub display_late: Option<u64>,
}

/// Sets the shed level from the display's signs, frame by frame.
#[derive(Debug)]
pub struct ShedControl {
    level: Arc<ShedLevel>,
    last: Option<DisplaySigns>,
    last_raise: Option<Instant>,
    calm_since: Option<Instant>,
}

impl ShedControl {
    pub fn new(level: Arc<ShedLevel>) -> Self {
        Self { level, last: None, last_raise: None, calm_since: None }
    }

    /// Whether `now` shows a frame lost since the signs seen before (the first signs are history).
    fn pressure(&self, now: &DisplaySigns) -> bool {
        self.last.is_some_and(|before| {
            now.input_dropped > before.input_dropped || matches!((before.display_late, now.display_late), (Some(a), Some(b)) if b > a)
        })
    }

    /// Take one frame's signs at time `at`; returns the new level when it changed.
    pub fn observe(&mut self, signs: DisplaySigns, at: Instant) -> Option<u32> {
        let pressure = self.pressure(&signs);
        self.last = Some(signs);
        let level = self.level.get();
        if pressure {
            self.calm_since = None;
            let may_raise = self.last_raise.is_none_or(|t| at.duration_since(t) >= RAISE_EVERY);
            if level < MAX_LEVEL && may_raise {
                self.last_raise = Some(at);
                self.level.set(level + 1);
                return Some(level + 1);
            }
            return None;
        }
        let calm = *self.calm_since.get_or_insert(at);
        if level > 0 && at.duration_since(calm) >= CALM_FOR {
            self.calm_since = Some(at);
            self.level.set(level - 1);
            return Some(level - 1);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signs(input_dropped: u64, display_late: u64) -> DisplaySigns {
        DisplaySigns { input_dropped, display_late: Some(display_late) }
    }

    #[test]
    fn gate_passes_one_frame_in_two_to_the_level() {
        let level = Arc::new(ShedLevel::default());
        let gate = Gate::new(level.clone());
        assert!((0..10).all(|_| gate.pass()), "level 0 passes every frame");
        level.set(2);
        let passed = (0..40).filter(|_| gate.pass()).count();
        assert_eq!(passed, 10);
        assert_eq!(gate.shed(), 30);
        level.set(99);
        assert_eq!(level.get(), MAX_LEVEL, "the level is capped");
    }

    #[test]
    fn pressure_raises_the_level_at_most_once_a_step_and_calm_lowers_it() {
        let level = Arc::new(ShedLevel::default());
        let mut c = ShedControl::new(level.clone());
        let t0 = Instant::now();
        let frame = Duration::from_millis(33);
        // A calm start.
        assert_eq!(c.observe(signs(0, 0), t0), None);
        // An input frame dropped: one step up at once, no second step within RAISE_EVERY.
        assert_eq!(c.observe(signs(1, 0), t0 + frame), Some(1));
        assert_eq!(c.observe(signs(2, 0), t0 + 2 * frame), None);
        // A frame late at the display sink after RAISE_EVERY: the next step.
        let t1 = t0 + frame + RAISE_EVERY;
        assert_eq!(c.observe(signs(2, 1), t1), Some(2));
        let t2 = t1 + RAISE_EVERY;
        assert_eq!(c.observe(signs(3, 1), t2), Some(3));
        assert_eq!(level.get(), 3);
        // Calm: nothing for CALM_FOR, then one step down per CALM_FOR.
        let mut t = t2;
        let mut changes = Vec::new();
        while t < t2 + 3 * (CALM_FOR + frame) + 2 * frame {
            t += frame;
            if let Some(l) = c.observe(signs(3, 1), t) {
                changes.push((l, t.duration_since(t2)));
            }
        }
        assert_eq!(changes.iter().map(|c| c.0).collect::<Vec<_>>(), vec![2, 1, 0]);
        assert!(changes[0].1 >= CALM_FOR, "no step down before the display was calm for {CALM_FOR:?}");
        // Lasting pressure ends at the top level, never beyond.
        for i in 0..100u64 {
            c.observe(signs(4 + i, 1), t + RAISE_EVERY * (i as u32 + 1));
        }
        assert_eq!(level.get(), MAX_LEVEL);
    }

    #[test]
    fn counters_that_stay_or_are_unknown_are_no_pressure() {
        let level = Arc::new(ShedLevel::default());
        let mut c = ShedControl::new(level.clone());
        let t0 = Instant::now();
        let none = DisplaySigns { input_dropped: 5, display_late: None };
        assert_eq!(c.observe(none, t0), None, "counts seen first are history, not pressure");
        assert_eq!(c.observe(none, t0 + RAISE_EVERY), None);
        assert_eq!(level.get(), 0);
    }
}
