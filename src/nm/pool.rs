//! A pool of reused worker threads behind a bounded queue. Workers are started only when work
//! arrives and no idle worker can take it (so a slow request never waits behind another, and a
//! one-shot `hello` starts none); they are kept for the next request instead of one OS thread
//! per request. [`Pool::submit`] blocks while the queue is full: the caller stops reading, and
//! the browser queues instead of getting `busy`.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

type Run<T> = Arc<dyn Fn(T) + Send + Sync>;

pub struct Pool<T: Send + 'static> {
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    state: Mutex<PoolState<T>>,
    /// Workers wait here for work.
    work: Condvar,
    /// The submitter waits here for room in the queue; `wait_idle` for the last job to end.
    changed: Condvar,
    run: Run<T>,
    max_workers: usize,
    queue_cap: usize,
}

struct PoolState<T> {
    queue: VecDeque<T>,
    workers: usize,
    /// Workers waiting for work (they take queued items before any new worker is started).
    waiting: usize,
    running: usize,
    closed: bool,
}

impl<T: Send + 'static> Pool<T> {
    /// At most `max_workers` items run at once; at most `queue_cap` more wait their turn.
    pub fn new(
        max_workers: usize,
        queue_cap: usize,
        run: impl Fn(T) + Send + Sync + 'static,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(PoolState {
                    queue: VecDeque::new(),
                    workers: 0,
                    waiting: 0,
                    running: 0,
                    closed: false,
                }),
                work: Condvar::new(),
                changed: Condvar::new(),
                run: Arc::new(run),
                max_workers: max_workers.max(1),
                queue_cap: queue_cap.max(1),
            }),
        }
    }

    /// Queues `item`, blocking while the queue is full.
    pub fn submit(&self, item: T) {
        let sh = &self.shared;
        let mut st = sh.lock();
        while st.queue.len() >= sh.queue_cap {
            st = sh.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.queue.push_back(item);
        let start_worker = st.queue.len() > st.waiting && st.workers < sh.max_workers;
        if start_worker {
            st.workers += 1;
        }
        drop(st);
        sh.work.notify_one();
        if start_worker {
            let worker = self.shared.clone();
            // A fixed name: nothing derived from a request may reach an API that can panic.
            let spawned = std::thread::Builder::new()
                .name("worker".into())
                .spawn(move || worker.work_loop());
            if let Err(e) = spawned {
                log::error!("cannot start a worker thread: {e}");
                let mut st = sh.lock();
                st.workers -= 1;
                // With no worker at all the item would wait forever: run it here.
                if st.workers == 0
                    && let Some(item) = st.queue.pop_front()
                {
                    st.running += 1;
                    drop(st);
                    sh.run_one(item);
                }
            }
        }
    }

    /// Takes the first queued (not yet running) item that matches.
    pub fn take_queued(&self, matches: impl Fn(&T) -> bool) -> Option<T> {
        let mut st = self.shared.lock();
        let pos = st.queue.iter().position(matches)?;
        let item = st.queue.remove(pos);
        drop(st);
        self.shared.changed.notify_all();
        item
    }

    /// Drops every queued item (nobody is left to answer).
    pub fn clear_queue(&self) -> usize {
        let n = std::mem::take(&mut self.shared.lock().queue).len();
        self.shared.changed.notify_all();
        n
    }

    /// Items queued or running.
    pub fn pending(&self) -> usize {
        let st = self.shared.lock();
        st.queue.len() + st.running
    }

    /// Waits up to `d` for nothing to be queued or running; true when idle.
    pub fn wait_idle(&self, d: Duration) -> bool {
        let sh = &self.shared;
        let st = sh.lock();
        let (st, _) = sh
            .changed
            .wait_timeout_while(st, d, |s| !s.queue.is_empty() || s.running > 0)
            .unwrap_or_else(|e| e.into_inner());
        st.queue.is_empty() && st.running == 0
    }

    /// Lets idle workers end; busy ones end after their item.
    pub fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.work.notify_all();
    }
}

impl<T: Send + 'static> Drop for Pool<T> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<T: Send + 'static> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, PoolState<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn work_loop(&self) {
        let mut st = self.lock();
        loop {
            if let Some(item) = st.queue.pop_front() {
                st.running += 1;
                drop(st);
                self.changed.notify_all();
                self.run_one(item);
                st = self.lock();
                continue;
            }
            if st.closed {
                st.workers -= 1;
                return;
            }
            st.waiting += 1;
            st = self.work.wait(st).unwrap_or_else(|e| e.into_inner());
            st.waiting -= 1;
        }
    }

    /// Runs one item; `running` was already counted. A panic that escapes `run` (which should
    /// catch its own and answer) must not take the worker or the count with it.
    fn run_one(&self, item: T) {
        let run = self.run.clone();
        if std::panic::catch_unwind(AssertUnwindSafe(|| run(item))).is_err() {
            log::error!("a worker caught a panic outside any request");
        }
        self.lock().running -= 1;
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    #[test]
    fn a_blocked_item_does_not_hold_up_the_next() {
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let gate = Mutex::new(gate_rx);
        let (done_tx, done_rx) = mpsc::channel::<u32>();
        let pool = Pool::new(4, 4, move |n: u32| {
            if n == 0 {
                let _ = gate.lock().unwrap().recv();
            }
            done_tx.send(n).unwrap();
        });
        pool.submit(0);
        pool.submit(1);
        assert_eq!(done_rx.recv_timeout(Duration::from_secs(60)).unwrap(), 1);
        gate_tx.send(()).unwrap();
        assert_eq!(done_rx.recv_timeout(Duration::from_secs(60)).unwrap(), 0);
        assert!(pool.wait_idle(Duration::from_secs(60)));
    }

    #[test]
    fn workers_are_reused_and_panics_do_not_leak_the_count() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let pool = Pool::new(2, 8, move |n: u32| {
            c.fetch_add(1, Ordering::SeqCst);
            assert!(!n.is_multiple_of(3), "boom");
        });
        for n in 0..50 {
            pool.submit(n);
        }
        assert!(pool.wait_idle(Duration::from_secs(60)));
        assert_eq!(calls.load(Ordering::SeqCst), 50);
        assert_eq!(pool.pending(), 0);
        assert!(pool.shared.lock().workers <= 2);
    }

    #[test]
    fn queued_items_can_be_taken_back() {
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let gate = Mutex::new(gate_rx);
        let pool = Pool::new(1, 4, move |_: u32| {
            let _ = gate.lock().unwrap().recv();
        });
        pool.submit(1);
        pool.submit(2);
        assert_eq!(pool.take_queued(|n| *n == 2), Some(2));
        assert_eq!(pool.take_queued(|n| *n == 2), None);
        gate_tx.send(()).unwrap();
        assert!(pool.wait_idle(Duration::from_secs(60)));
    }
}
