//! The recording branches yield the CPU to the analysis and the display. Each recording's leaky queue
//! starts a streaming thread that runs its encoder, muxer and file sink (and the encoder's own threads,
//! x264's, which inherit the thread's priority as they are created in it). Those threads run at a lower
//! priority (a higher nice value, Linux; no privilege needed to lower one's own priority): when the cores
//! are short, the scheduler gives them what the analysis, the element and the display leave, so the
//! recordings degrade (their queues drop frames, counted) before the monitor does.
//!
//! No thread of the cameras, the element or the display ever waits on a low-priority thread (under load
//! such a thread may not run for a second): the low-priority thread is the one of a one-frame queue
//! behind each recording's leaky queue, whose own thread (normal priority) is the only one that hands
//! frames to it; and the leaky queue answers serialized queries (an upstream allocation query through
//! the tees) at once instead of queueing them behind the frames waiting for the encoder
//! (`answer_serialized_queries`).
//!
//! How: the pipeline's bus sync handler sees each streaming task created (`STREAM_STATUS` `CREATE`,
//! posted before the task starts) and gives the encoder queues' tasks a task pool of their own,
//! `LowPriorityPool`, which runs each task on a new thread of its own that lowers its priority first
//! and ends with the task. A thread of GStreamer's shared pool is never reniced: such a thread goes back
//! to the pool and may later run another element's task, and an unprivileged thread cannot raise its
//! priority again.

use anyhow::{Result, anyhow};
use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer::subclass::prelude::*;

/// The nice value of the recording threads by default: 0, the analysis's priority. With the recordings'
/// codings of now (about 0.55 of a core at 720p30) the encoders at nice 0 kept 97-100% of every
/// recording's frames in three 30-s 720p soaks under load, against 65-91% at nice 19, which bought the
/// overlay 5-8 frames in a hundred (README, "Live"). 19, the lowest priority short of `SCHED_IDLE` (the
/// scheduler's weight of nice 19 is 15 against 1024 for nice 0: about 1.5% of a contended core), is
/// `--record-nice 19`. (The camera stalls once seen at nice 19 were the pipeline waiting for a starved
/// recording's first frame; the recording file sinks no longer take part in state changes.)
pub const RECORD_NICE: i32 = 0;

/// Lower the calling thread's priority to `nice` (0: leave it). Linux only (elsewhere a no-op): nice is
/// a thread's own there, and `setpriority` with the thread's id sets it for that thread alone.
fn lower_this_thread(nice: i32) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    if nice > 0 {
        // SAFETY: plain system calls on the calling thread's own id.
        let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, nice) };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The nice value of the calling thread (Linux; 0 elsewhere): what the tests check.
#[cfg(test)]
pub fn this_thread_nice() -> i32 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: as above; errno is cleared first because -1 is also a valid nice value.
        unsafe {
            *libc::__errno_location() = 0;
            libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t)
        }
    }
    #[cfg(not(target_os = "linux"))]
    0
}

mod imp {
    use std::sync::atomic::{AtomicI32, Ordering};

    use super::*;

    #[derive(Default)]
    pub struct LowPriorityPool {
        pub(super) nice: AtomicI32,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for LowPriorityPool {
        const NAME: &'static str = "NirfLowPriorityPool";
        type Type = super::LowPriorityPool;
        type ParentType = gst::TaskPool;
    }

    impl ObjectImpl for LowPriorityPool {}
    impl GstObjectImpl for LowPriorityPool {}

    impl TaskPoolImpl for LowPriorityPool {
        type Handle = Thread;

        /// A new thread for each task: it lowers its priority, runs the task's loop and ends with it.
        fn push(&self, func: gst::subclass::TaskPoolFunction) -> Result<Option<Thread>, glib::Error> {
            let nice = self.nice.load(Ordering::Relaxed);
            let handle = std::thread::Builder::new()
                .name("nirf-recording".into())
                .spawn(move || {
                    if let Err(e) = lower_this_thread(nice) {
                        tracing::warn!("recording thread: cannot lower its priority to nice {nice}: {e}");
                    }
                    func.call();
                })
                .map_err(|e| glib::Error::new(gst::CoreError::Thread, &format!("cannot start a recording thread: {e}")))?;
            Ok(Some(Thread(handle)))
        }
    }

    pub struct Thread(std::thread::JoinHandle<()>);

    impl gst::TaskHandle for Thread {
        fn join(self) {
            let _ = self.0.join();
        }
    }
}

glib::wrapper! {
    /// A task pool whose tasks run on threads of their own at a lower priority.
    pub struct LowPriorityPool(ObjectSubclass<imp::LowPriorityPool>) @extends gst::TaskPool, gst::Object;
}

impl LowPriorityPool {
    pub fn new(nice: i32) -> Self {
        let pool: Self = glib::Object::new();
        pool.imp().nice.store(nice, std::sync::atomic::Ordering::Relaxed);
        pool
    }
}

/// A queue answers a serialized query (allocation, drain) only once its thread has pushed every frame
/// before it, so the thread that asked (a camera's, through a tee) waits for the recording's encoder.
/// `queue` (a recording's leaky queue) answers them at once: nothing proposed for allocation (the
/// recording allocates nothing upstream: the tee's other branches decide), nothing to drain (its frames
/// may be dropped anyway).
pub fn answer_serialized_queries(queue: &gst::Element) -> Result<()> {
    let sink = queue.static_pad("sink").ok_or_else(|| anyhow!("{}: a queue without sink pad", queue.name()))?;
    sink.add_probe(gst::PadProbeType::QUERY_DOWNSTREAM, |_, info| match info.query() {
        Some(q) if q.is_serialized() => gst::PadProbeReturn::Handled,
        _ => gst::PadProbeReturn::Ok,
    });
    Ok(())
}

/// Run the streaming tasks of the elements named `owners` (the recordings' encoder queues) at nice `nice` (0:
/// as every other thread). Call before the pipeline starts: it installs the bus's sync handler.
pub fn lower_tasks_of(pipeline: &gst::Pipeline, owners: Vec<String>, nice: i32) -> Result<()> {
    if nice == 0 || owners.is_empty() {
        return Ok(());
    }
    let bus = pipeline.bus().ok_or_else(|| anyhow!("pipeline without bus"))?;
    let pool = LowPriorityPool::new(nice);
    bus.set_sync_handler(move |_, msg| {
        if let gst::MessageView::StreamStatus(s) = msg.view() {
            let (kind, owner) = s.get();
            if kind == gst::StreamStatusType::Create && owners.iter().any(|o| *o == owner.name()) {
                if let Some(task) = s.stream_status_object().and_then(|v| v.get::<gst::Task>().ok()) {
                    task.set_pool(&pool);
                }
            }
        }
        gst::BusSyncReply::Pass
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// The recording queue's streaming thread runs at the lowered priority, on a thread of its own; the
    /// display queue's at the process's own.
    #[test]
    fn recording_tasks_run_at_the_lower_priority_and_others_do_not() {
        crate::media::init().unwrap();
        let pipeline = gst::parse::launch(
            "videotestsrc num-buffers=5 ! video/x-raw,width=64,height=48 ! tee name=t \
             t. ! queue name=rec ! fakesink  t. ! queue name=disp ! fakesink",
        )
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let seen: Arc<Mutex<Vec<(String, i32, Option<String>)>>> = Arc::default();
        for q in ["rec", "disp"] {
            let seen = seen.clone();
            let pad = pipeline.by_name(q).unwrap().static_pad("src").unwrap();
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                let thread = std::thread::current().name().map(str::to_string);
                seen.lock().unwrap().push((q.to_string(), this_thread_nice(), thread));
                gst::PadProbeReturn::Ok
            });
        }
        let base = this_thread_nice();
        lower_tasks_of(&pipeline, vec!["rec".into()], 19).unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let bus = pipeline.bus().unwrap();
        let msg = bus.timed_pop_filtered(gst::ClockTime::from_seconds(30), &[gst::MessageType::Eos, gst::MessageType::Error]);
        pipeline.set_state(gst::State::Null).unwrap();
        assert_eq!(msg.map(|m| m.type_()), Some(gst::MessageType::Eos));
        let seen = seen.lock().unwrap();
        let of = |q: &str| seen.iter().filter(|s| s.0 == q).cloned().collect::<Vec<_>>();
        assert_eq!(of("rec").len(), 5, "{seen:?}");
        assert_eq!(of("disp").len(), 5, "{seen:?}");
        #[cfg(target_os = "linux")]
        {
            assert!(of("rec").iter().all(|s| s.1 == 19.max(base) && s.2.as_deref() == Some("nirf-recording")), "{seen:?}");
            assert!(of("disp").iter().all(|s| s.1 == base && s.2.as_deref() != Some("nirf-recording")), "{seen:?}");
        }
    }
}

#[cfg(test)]
mod query_tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    /// An allocation query into a recording's leaky queue is answered while its thread is stuck on a frame
    /// (here a probe holding it, as a starved encoder would): the asking thread does not wait.
    #[test]
    fn a_serialized_query_is_answered_while_the_queue_s_thread_is_stuck() {
        crate::media::init().unwrap();
        let pipeline = gst::parse::launch("appsrc name=src format=time ! queue name=q ! fakesink").unwrap().downcast::<gst::Pipeline>().unwrap();
        let q = pipeline.by_name("q").unwrap();
        answer_serialized_queries(&q).unwrap();
        let holding = Arc::new(AtomicBool::new(false));
        let (stuck_tx, stuck_rx) = std::sync::mpsc::channel::<()>();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let h = holding.clone();
        q.static_pad("src").unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            h.store(true, Ordering::SeqCst);
            let _ = stuck_tx.send(());
            let _ = release_rx.lock().unwrap().recv_timeout(Duration::from_secs(20));
            h.store(false, Ordering::SeqCst);
            gst::PadProbeReturn::Ok
        });
        pipeline.set_state(gst::State::Playing).unwrap();
        let src = pipeline.by_name("src").unwrap().downcast::<gstreamer_app::AppSrc>().unwrap();
        let caps = gst::Caps::builder("video/x-raw").field("format", "GRAY8").field("width", 4).field("height", 4).field("framerate", gst::Fraction::new(30, 1)).build();
        src.set_caps(Some(&caps));
        for _ in 0..3 {
            src.push_buffer(gst::Buffer::with_size(16).unwrap()).unwrap();
        }
        stuck_rx.recv_timeout(Duration::from_secs(30)).expect("the queue's thread took a frame");
        let mut query = gst::query::Allocation::new(Some(&caps), true);
        assert!(q.static_pad("sink").unwrap().query(&mut query), "answered");
        // Queued behind the stuck frame, the answer would have come only once the probe let go.
        assert!(holding.load(Ordering::SeqCst), "answered while the queue's thread is still stuck on its frame");
        release_tx.send(()).unwrap();
        pipeline.set_state(gst::State::Null).unwrap();
    }
}
