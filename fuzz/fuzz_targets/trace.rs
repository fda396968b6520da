//! The trace reader (`checker::trace::parse_trace`, then the check against the scenario it
//! replays and the replay itself) on any text, against a built-in two-thread scenario: an
//! error names a position, nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

const SCENARIO: &str = include_str!("../../scenarios/d1-second-mapping-foll-get.toml");

thread_local! {
    static SC: checker::Scenario =
        checker::parse(Path::new("d1-second-mapping-foll-get.toml"), SCENARIO).expect("built-in");
}

fuzz_target!(|data: &[u8]| SC.with(|sc| one(sc, data)));

fn one(sc: &checker::Scenario, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.json");
    let Ok(tf) = checker::trace::parse_trace(path, text) else {
        return;
    };
    if checker::trace::check_trace_against(path, text, &tf, sc).is_err() {
        return;
    }
    let kernel = sc
        .kernel(&tf.preset, &tf.overrides)
        .expect("parse_trace checked the preset and the overrides");
    let model = sc.model(kernel);
    checker::trace::replay_file(sc, &tf, &model).expect("a checked schedule replays");
}
