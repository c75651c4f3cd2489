//! A provider's rate limit, measured where it matters: at the server.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_channels::{Channel, ChannelKind, Message, RateLimit, TwilioSmsProvider};

use crate::sms_push::{twilio_config, twilio_server};

const PER_SECOND: u32 = 20;
const BURST: u32 = 5;
const MESSAGES: u32 = 60;
/// How long a request may take from the limiter letting it go to the server reading it.
const TRANSIT: Duration = Duration::from_millis(100);

/// The most arrivals in any window of `window` that starts at an arrival.
fn most_in_a_window(arrivals: &[Instant], window: Duration) -> usize {
    arrivals
        .iter()
        .enumerate()
        .map(|(index, start)| {
            arrivals[index..]
                .iter()
                .take_while(|arrival| arrival.duration_since(*start) < window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_rate_limited_provider_never_exceeds_its_limit_at_the_server() {
    let server = twilio_server().await;
    let provider = TwilioSmsProvider::new(&twilio_config(&server.url, "twilio")).unwrap();
    let limit = RateLimit {
        per_second: NonZeroU32::new(PER_SECOND).unwrap(),
        burst: NonZeroU32::new(BURST).unwrap(),
    };
    let channel = Channel::new(ChannelKind::Sms).with_provider(Arc::new(provider), Some(limit));
    let messages: Vec<Message> = (0..MESSAGES)
        .map(|index| Message::new(format!("n{index}"), format!("+1555333{index:04}"), "Hi"))
        .collect();

    let started = Instant::now();
    let results = channel.send(&messages).await;
    let elapsed = started.elapsed();

    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let mut arrivals: Vec<Instant> = server.requests().iter().map(|request| request.at).collect();
    assert_eq!(arrivals.len(), MESSAGES as usize);
    arrivals.sort();

    // The limiter (GCRA) lets `BURST` sends go at once, then one every 1/PER_SECOND
    // = 50 ms. Send n (from 0) is let go no earlier than (n - (BURST - 1)) × 50 ms after
    // the first: the 60th at (59 - 4) × 50 ms = 2.75 s.
    let emission_interval = Duration::from_secs(1) / PER_SECOND;
    let minimum = emission_interval * (MESSAGES - BURST);
    assert!(elapsed >= minimum, "{MESSAGES} sends took {elapsed:?}, less than {minimum:?}");

    // In any span of time w, the limiter lets at most BURST + w / 50 ms sends go: the
    // burst, plus one per 50 ms (25 in 1 s, 7 in 100 ms). The server sees each request a
    // little after its send was let go, the first burst later than the rest as it opens
    // the connections. Allowing each request up to TRANSIT to arrive, a window of w at the
    // server holds only sends let go within w + TRANSIT: at most
    // BURST + (w + TRANSIT) / 50 ms = 27 requests in 1 s and 9 in 100 ms. (Unlimited, all
    // 60 would arrive within a few milliseconds; and a faster rate fails the minimum
    // above, which needs no allowance.)
    for window in [Duration::from_secs(1), Duration::from_millis(100)] {
        let intervals = (window + TRANSIT).as_nanos() / emission_interval.as_nanos();
        let limit = BURST as usize + usize::try_from(intervals).unwrap();
        let most = most_in_a_window(&arrivals, window);
        assert!(most <= limit, "{most} requests within {window:?}, limit {limit}");
    }
}
