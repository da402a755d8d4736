//! Extreme wait intervals from an embedder: a typed error, never a panic.

use std::time::Duration;

use portalocker_host::FileLockCtx;
use portalocker_tests::native::{Holder, Mode};
use portalocker_tests::{Flavour, Sandbox, guests};

use super::{WATCHDOG, finished, spawn_run};

/// An embedder's extreme wait intervals (`Duration::MAX`, and merely huge
/// ones) end a contended wait at its timeout with `timed-out`, on both
/// layers: no overflow, no panic.
fn extreme_wait_intervals_time_out(flavour: Flavour) {
    let huge = Duration::from_secs(1 << 62);
    for (min, max) in [(Duration::MAX, Duration::MAX), (huge, huge)] {
        for layer in ["path", "handle"] {
            let sandbox = Sandbox::new().with_flavour(flavour);
            let _holder = Holder::lock(&sandbox.path("x.lock"), Mode::Exclusive);
            let mut invocation = sandbox.invocation(&[
                "--layer",
                layer,
                "--timeout",
                "100",
                "x.lock",
                "exclusive",
                "0",
            ]);
            invocation.locks = FileLockCtx::builder().wait_intervals(min, max).build();
            let receive = spawn_run(flavour, guests::HOLD, invocation);
            let what = format!("{layer} layer, wait intervals {min:?}");
            finished(&receive, WATCHDOG, &what)
                .assert_code(3)
                .assert_line("error: timed-out");
        }
    }
}

under_both_linkers!(extreme_wait_intervals_time_out);
