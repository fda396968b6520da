//! The scenario reader (`checker::parse`) on any text: it must answer with a scenario or an
//! error that names a position, never panic or hang. A scenario it accepts is built for each of
//! its presets and checked briefly (DPOR, a few executions): what the reader lets through
//! must be something the model can run.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let sc = match checker::parse(Path::new("fuzz.toml"), text) {
        Ok(sc) => sc,
        Err(e) => {
            assert!(e.line > 0 && e.column > 0, "an error without a position: {e}");
            return;
        }
    };
    for preset in &sc.presets {
        let kernel = sc.kernel(preset, &[]).expect("the parser checked presets and [set]");
        let _ = sc.model(kernel);
    }
    let bounds = explore::Bounds {
        max_executions: Some(8),
        max_depth: sc.bounds.max_depth.min(400),
        ..explore::Bounds::default()
    };
    let opts = checker::RunOptions {
        bounds: Some(bounds),
        ..checker::RunOptions::default()
    };
    checker::check(&sc, &sc.presets[0], opts).expect("a parsed scenario checks");
});
