use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use futures::poll;

use super::*;

/// Long enough never to expire in a test that expects success.
const FOREVER: Duration = Duration::from_secs(3600);
/// Short timeout for tests that expect a waiter to give up.
const SHORT: Duration = Duration::from_millis(20);

fn limiter(max: usize, queue: usize, timeout: Duration, pct: u8) -> ConcurrencyLimiter {
    ConcurrencyLimiter::new(LimiterConfig {
        max_concurrency: max,
        concurrency_queue: queue,
        concurrency_timeout: timeout,
        bulk_concurrency_pct: pct,
    })
}

/// A limiter of one permit (`queue` waiters, `timeout`, bulk share `pct`) and that permit.
async fn one_held(queue: usize, timeout: Duration, pct: u8) -> (ConcurrencyLimiter, Permit) {
    let l = limiter(1, queue, timeout, pct);
    let held = l.acquire().await.unwrap();
    (l, held)
}

/// `acquire`, pinned, after checking that it waits.
async fn waiting<F: Future>(acquire: F) -> Pin<Box<F>> {
    let mut waiter = Box::pin(acquire);
    assert!(poll!(waiter.as_mut()).is_pending());
    waiter
}

/// Whether an acquisition was refused as overloaded.
fn overloaded(acquired: &Result<Permit>) -> bool {
    matches!(acquired, Err(Error::Overloaded))
}

#[tokio::test]
async fn permits_up_to_the_limit_then_overloaded_without_queue() {
    let l = limiter(2, 0, FOREVER, 60);
    assert_eq!((l.running(), l.limit()), (0, 2));
    let a = l.acquire().await.unwrap();
    let b = l.acquire().await.unwrap();
    assert!(!a.is_bulk());
    assert_eq!(l.running(), 2);
    // No queue: refused at once even though the timeout is long.
    assert!(overloaded(&l.acquire().await));
    drop(a);
    assert_eq!(l.running(), 1);
    let c = l.acquire().await.unwrap();
    assert_eq!(l.running(), 2);
    drop((b, c));
    assert_eq!(l.running(), 0);
}

#[tokio::test]
async fn queued_waiter_gets_the_released_permit() {
    let (l, held) = one_held(1, FOREVER, 60).await;
    let waiter = waiting(l.acquire()).await;
    assert_eq!(l.queued(), 1);
    // The queue (1) is full: a second waiter is refused at once.
    assert!(overloaded(&l.acquire().await));
    drop(held);
    let permit = waiter.await.unwrap();
    assert_eq!((l.running(), l.queued()), (1, 0));
    drop(permit);
    assert_eq!(l.running(), 0);
}

#[tokio::test]
async fn queued_waiter_times_out() {
    let (l, _held) = one_held(4, SHORT, 60).await;
    assert!(overloaded(&l.acquire().await));
    assert_eq!(l.queued(), 0, "a timed-out waiter leaves the queue");
    assert_eq!(l.running(), 1);
}

#[tokio::test]
async fn cancelled_waiter_leaves_the_queue() {
    let (l, held) = one_held(1, FOREVER, 60).await;
    {
        let _waiter = waiting(l.acquire()).await;
        assert_eq!(l.queued(), 1);
    }
    assert_eq!(l.queued(), 0);
    drop(held);
    assert_eq!(l.running(), 0, "the cancelled waiter took nothing");
}

#[tokio::test]
async fn zero_concurrency_rejects_everything() {
    let l = limiter(0, 10, FOREVER, 100);
    assert_eq!(l.limit(), 0);
    assert!(overloaded(&l.acquire().await));
    assert!(overloaded(&l.acquire_bulk().await));
    assert_eq!(l.queued(), 0);
}

#[tokio::test]
async fn bulk_is_capped_at_its_share_and_singles_keep_the_rest() {
    // ceil(10 × 25 / 100) = 3
    let l = limiter(10, 0, SHORT, 25);
    assert_eq!(l.bulk_limit(), 3);
    let bulk: Vec<_> = futures::future::try_join_all((0..3).map(|_| l.acquire_bulk()))
        .await
        .unwrap();
    assert!(bulk.iter().all(Permit::is_bulk));
    assert_eq!((l.bulk_running(), l.running()), (3, 3));
    // The bulk share is used up: the next bulk acquisition times out...
    assert!(overloaded(&l.acquire_bulk().await));
    // ...while single operations still get the remaining 7.
    let singles: Vec<_> = futures::future::try_join_all((0..7).map(|_| l.acquire()))
        .await
        .unwrap();
    assert_eq!(l.running(), 10);
    assert!(overloaded(&l.acquire().await));
    drop(bulk);
    assert_eq!((l.bulk_running(), l.running()), (0, 7));
    drop(singles);
    assert_eq!(l.running(), 0);
}

#[tokio::test]
async fn bulk_waits_for_a_main_permit_and_gives_back_its_bulk_slot_on_timeout() {
    let l = limiter(2, 0, SHORT, 100);
    let a = l.acquire().await.unwrap();
    let b = l.acquire().await.unwrap();
    // A bulk slot is free but the main pool is not: times out, and returns the bulk slot.
    assert!(overloaded(&l.acquire_bulk().await));
    assert_eq!(l.bulk_running(), 0);
    drop(a);
    let bulk = l.acquire_bulk().await.unwrap();
    assert_eq!((l.running(), l.bulk_running()), (2, 1));
    drop((b, bulk));
    assert_eq!((l.running(), l.bulk_running()), (0, 0));
}

#[tokio::test]
async fn bulk_waiter_gets_a_released_permit_without_using_the_queue() {
    let (l, held) = one_held(0, FOREVER, 100).await;
    let mut waiter = waiting(l.acquire_bulk()).await;
    assert_eq!(l.queued(), 0, "bulk waits do not count against the queue");
    drop(held);
    let Poll::Ready(Ok(permit)) = poll!(waiter.as_mut()) else {
        panic!("the bulk waiter should have the released permit");
    };
    assert!(permit.is_bulk());
}

#[test]
fn bulk_limit_rounds_up_and_clamps() {
    assert_eq!(bulk_limit(500, 60), 300);
    assert_eq!(bulk_limit(1, 60), 1);
    assert_eq!(bulk_limit(3, 50), 2);
    assert_eq!(bulk_limit(7, 1), 1);
    assert_eq!(bulk_limit(7, 0), 1);
    assert_eq!(bulk_limit(7, 255), 7);
    assert_eq!(bulk_limit(usize::MAX, 100), usize::MAX.div_ceil(100));
}
