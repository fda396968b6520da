//! Ranking by sink class (device DMA > transport > crypto > copy) and one item per carrier
//! (its producers × consumers), on the fixture tree tests/fixtures/rank (written for this test:
//! two producers into pipe buffers — a page-cache lookup and user pages —, a socket and a
//! device consumer, a zero-copy send, a driver's DMA map).

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    let tree = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rank");
    Command::new(env!("CARGO_BIN_EXE_pvmm-audit"))
        .arg(tree)
        .args(args)
        .arg("--no-cache")
        .output()
        .expect("run pvmm-audit")
}

#[test]
fn findings_are_ranked_by_sink_class_and_grouped_by_carrier() {
    let o = run(&["--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["findings"].as_array().map(|f| f.len()), Some(6));
    let items = v["items"].as_array().expect("items");
    let shape: Vec<(String, Option<String>, usize)> = items
        .iter()
        .map(|i| {
            (
                i["sink_class"].as_str().expect("class").to_string(),
                i["carrier"].as_str().map(String::from),
                i["findings"].as_array().expect("findings").len(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            ("device-dma".to_string(), None, 1),
            ("device-dma".to_string(), Some("pipe-buffer".to_string()), 4),
            ("transport".to_string(), None, 1),
        ]
    );
    let pipe = &items[1];
    let producers: Vec<&str> = pipe["producers"]
        .as_array()
        .expect("producers")
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    assert_eq!(
        producers,
        vec![
            "fs/splice_ops.c:13: user_to_pipe(): iov_iter_get_pages2()",
            "mm/filemap_fx.c:16: my_splice_read(): filemap_get_pages()"
        ]
    );
    assert_eq!(pipe["consumers"].as_array().map(|c| c.len()), Some(2));
    // Ranks never go down the list.
    let ranks: Vec<u64> = items.iter().filter_map(|i| i["rank"].as_u64()).collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{ranks:?}");
    // The page cache's path is D3; user pages into a pipe (vmsplice) are not.
    for f in v["findings"].as_array().expect("findings") {
        let src = f["chain"][0]["callee"].as_str().expect("callee");
        if f["rule"] == "carrier-pipe-buffer" && src == "iov_iter_get_pages2" {
            assert!(f["scenario"].is_null(), "{f}");
        }
    }

    // Text: the items in that order, each finding's line FILE:LINE:COL: warning: at its sink.
    let out = String::from_utf8_lossy(&run(&[]).stdout).to_string();
    let a = out.find("== 1. device-dma · drivers/misc ==").expect(&out);
    let b = out
        .find(
            "== 2. device-dma · carrier pipe-buffer: 2 producer(s) × 2 consumer(s), 4 findings ==",
        )
        .expect(&out);
    let c = out.find("== 3. transport · net/core ==").expect(&out);
    assert!(a < b && b < c);
    assert!(
        out.contains("\ndrivers/misc/dev.c:5:2: warning: [PVA-"),
        "{out}"
    );
    assert!(out.contains("\nnet/core/zc.c:6:2: warning: [PVA-"), "{out}");
}
