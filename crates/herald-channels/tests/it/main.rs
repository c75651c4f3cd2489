//! Integration tests of the delivery channels over real protocols on 127.0.0.1: a real
//! SMTP server (Python's `aiosmtpd`, one per test), and `axum` servers standing for
//! webhook receivers, Twilio and FCM that check each request's shape.

mod email;
mod failover;
mod rate_limit;
mod sms_push;
mod support;
mod webhook;
