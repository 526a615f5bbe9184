//! The minimum request-body rate (`http.min_body_rate` bytes per second over
//! `http.min_body_rate_window`): the arithmetic behind [`crate::idle`]'s slow-body cut-off.
//!
//! A body that keeps sending one byte a second never trips the idle timeout, yet holds a
//! connection, an in-flight slot and a half-written revision for as long as it likes. The
//! [`RateMeter`] decides when such a body has been slow for long enough to be cut off.
//!
//! **The clock is waiting time.** The meter is fed with *waiting time*: time during which
//! the server asked for more of the body and had to wait for the client (from a read that
//! found nothing until the next read). Time the server spends on its own work (a slow
//! long-term store, a queue for a concurrency permit, a request not read yet) never counts
//! against the client, so a fast client behind a slow store is never cut off.
//!
//! **The rule.** Once `window` of waiting time has passed (the grace period, so that a
//! connection's slow start never counts), the bytes received during the last `window` of
//! waiting time must reach `rate × window`; the first moment they do not, the body is too
//! slow. Bytes are counted in [`SLOTS`] slots per window; a slot counts as long as any part of
//! it lies within the window, so the averaging span is between `window` and `window` plus one
//! slot: never shorter than configured, in the client's favour.
//!
//! **Invariants**
//!
//! * Nothing is cut off before `window` of waiting time has passed.
//! * Bytes only ever move the deadline later; a body at or above the rate has no deadline
//!   within its current window.
//! * Memory is bounded: at most `SLOTS + 2` slots are kept, whatever the body's size.

use std::collections::VecDeque;
use std::time::Duration;

/// Slots per window (the averaging resolution: a tenth of the window).
pub const SLOTS: u32 = 10;

/// Bytes received per slot of waiting time; decides when a body has become too slow.
#[derive(Debug, Clone)]
pub struct RateMeter {
    /// Bytes per second to sustain.
    rate: u64,
    window: Duration,
    /// `window / SLOTS`, at least one nanosecond.
    slot: Duration,
    /// (slot index, bytes) in increasing index order; slots that left the window are gone.
    slots: VecDeque<(u128, u64)>,
}

impl RateMeter {
    /// A meter for `rate` bytes per second over `window`; `None` when either is zero (the
    /// check is disabled).
    pub fn new(rate: u64, window: Duration) -> Option<Self> {
        if rate == 0 || window.is_zero() {
            return None;
        }
        Some(Self {
            rate,
            window,
            slot: (window / SLOTS).max(Duration::from_nanos(1)),
            slots: VecDeque::with_capacity(SLOTS as usize + 2),
        })
    }

    /// The configured rate (bytes per second).
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// The configured window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Records `bytes` received after `waited` of waiting time in total.
    pub fn record(&mut self, waited: Duration, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let index = waited.as_nanos() / self.slot.as_nanos();
        while self
            .slots
            .front()
            .is_some_and(|(i, _)| self.exit(*i) <= waited)
        {
            self.slots.pop_front();
        }
        match self.slots.back_mut() {
            Some((last, count)) if *last == index => *count = count.saturating_add(bytes),
            _ => self.slots.push_back((index, bytes)),
        }
    }

    /// The total waiting time at which the body is too slow if nothing more arrives after
    /// `waited`: never before the window, and `waited` itself when it already is too slow.
    pub fn deadline(&self, waited: Duration) -> Duration {
        let mut at = waited.max(self.window);
        let mut remaining: u128 = self.slots.iter().map(|(_, b)| u128::from(*b)).sum();
        for (index, bytes) in &self.slots {
            let exit = self.exit(*index);
            if exit > at {
                if !self.enough(remaining) {
                    return at;
                }
                at = exit;
            }
            remaining -= u128::from(*bytes);
        }
        // Every slot has left the window: nothing received in it.
        at
    }

    /// Whether `bytes` within one window reach the rate.
    fn enough(&self, bytes: u128) -> bool {
        bytes * 1_000_000_000 >= u128::from(self.rate) * self.window.as_nanos()
    }

    /// The waiting time at which slot `index` no longer overlaps the window.
    fn exit(&self, index: u128) -> Duration {
        let end = (index + 1).saturating_mul(self.slot.as_nanos());
        let end = Duration::from_nanos(u64::try_from(end).unwrap_or(u64::MAX));
        end.saturating_add(self.window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn meter() -> RateMeter {
        // 100 B/s over 10 s: 1000 bytes per window, slots of 1 s.
        RateMeter::new(100, secs(10)).unwrap()
    }

    #[test]
    fn zero_rate_or_window_disables_the_check() {
        assert!(RateMeter::new(0, secs(30)).is_none());
        assert!(RateMeter::new(1024, Duration::ZERO).is_none());
    }

    #[test]
    fn nothing_received_is_too_slow_exactly_at_the_window() {
        let m = meter();
        assert_eq!(m.deadline(Duration::ZERO), secs(10));
        assert_eq!(m.deadline(secs(4)), secs(10));
        assert_eq!(m.deadline(secs(12)), secs(12), "already too slow");
    }

    #[test]
    fn a_body_at_the_rate_is_never_due_and_one_below_it_is() {
        let mut fast = meter();
        let mut slow = meter();
        for second in 0..60 {
            let now = secs(second);
            assert!(fast.deadline(now) > now, "fast body due at {second} s");
            fast.record(now, 100);
            slow.record(now, 50);
        }
        let now = secs(60);
        assert!(fast.deadline(now) > now);
        assert_eq!(slow.deadline(now), now, "half the rate is too slow");
    }

    #[test]
    fn one_byte_a_second_is_cut_at_the_end_of_the_grace_window() {
        let mut m = meter();
        for second in 0..10 {
            m.record(secs(second), 1);
        }
        assert_eq!(m.deadline(secs(10)), secs(10));
    }

    #[test]
    fn a_burst_keeps_a_body_alive_for_one_window_only() {
        let mut m = meter();
        m.record(Duration::from_millis(500), 5_000);
        // The burst's slot [0 s, 1 s) overlaps the window until 11 s of waiting time.
        assert_eq!(m.deadline(secs(1)), secs(11));
        m.record(secs(10), 10);
        assert_eq!(m.deadline(secs(10)), secs(11));
    }

    #[test]
    fn old_slots_are_dropped() {
        let mut m = meter();
        for second in 0..1000 {
            m.record(secs(second), 100);
        }
        assert!(m.slots.len() <= SLOTS as usize + 2, "{}", m.slots.len());
        assert!(m.deadline(secs(999)) > secs(999));
    }
}
