//! Every rule entry of `rules/audit.toml` against the kernel's prototypes, one test per
//! entry kind: a table of the prototypes (declarations written for this test from the headers
//! of Debian's 6.12.118 and 6.1.192 trees, one line each, with where they are) that the rules
//! must agree with; a rule name without a table entry fails the test, so a new rule cannot
//! go unchecked. Each test builds a fixture tree from the table, audits it, and checks that
//! (a) the tool's own prototype check finds every argument index right, and (b) a page
//! handed to the function at the rule's argument is followed (a finding for a sink, a seed for
//! a source, a transfer for a transfer), while the same page at another argument is not.

use audit::analysis::Outcome;
use audit::rules::{Rules, BUILTIN};
use audit::scan;
use std::collections::BTreeMap;

/// Name → (header, prototype). The page/flags argument positions are the kernel's.
const PROTOS: &[(&str, &str, &str)] = &[
    // include/linux/mm.h (6.12: get_user_pages, _fast, _fast_only, _remote, _unlocked)
    ("get_user_pages", "include/linux/mm.h", "long get_user_pages(unsigned long start, unsigned long nr_pages, unsigned int gup_flags, struct page **pages);"),
    ("get_user_pages_fast", "include/linux/mm.h", "int get_user_pages_fast(unsigned long start, int nr_pages, unsigned int gup_flags, struct page **pages);"),
    ("get_user_pages_fast_only", "include/linux/mm.h", "int get_user_pages_fast_only(unsigned long start, int nr_pages, unsigned int gup_flags, struct page **pages);"),
    // 6.1 and earlier (mm/gup.c: get_user_pages_locked, removed in v6.5)
    ("get_user_pages_locked", "include/linux/mm.h", "long get_user_pages_locked(unsigned long start, unsigned long nr_pages, unsigned int gup_flags, struct page **pages, int *locked);"),
    ("get_user_pages_remote", "include/linux/mm.h", "long get_user_pages_remote(struct mm_struct *mm, unsigned long start, unsigned long nr_pages, unsigned int gup_flags, struct page **pages, int *locked);"),
    ("get_user_pages_unlocked", "include/linux/mm.h", "long get_user_pages_unlocked(unsigned long start, unsigned long nr_pages, struct page **pages, unsigned int gup_flags);"),
    // include/linux/uio.h (iov_iter_get_pages/_alloc: before v6.1; the 2 variants since)
    ("iov_iter_get_pages", "include/linux/uio.h", "ssize_t iov_iter_get_pages(struct iov_iter *i, struct page **pages, size_t maxsize, unsigned maxpages, size_t *start);"),
    ("iov_iter_get_pages2", "include/linux/uio.h", "ssize_t iov_iter_get_pages2(struct iov_iter *i, struct page **pages, size_t maxsize, unsigned maxpages, size_t *start);"),
    ("iov_iter_get_pages_alloc", "include/linux/uio.h", "ssize_t iov_iter_get_pages_alloc(struct iov_iter *i, struct page ***pages, size_t maxsize, size_t *start);"),
    ("iov_iter_get_pages_alloc2", "include/linux/uio.h", "ssize_t iov_iter_get_pages_alloc2(struct iov_iter *i, struct page ***pages, size_t maxsize, size_t *start);"),
    ("iov_iter_bvec", "include/linux/uio.h", "void iov_iter_bvec(struct iov_iter *i, unsigned int direction, const struct bio_vec *bvec, unsigned long nr_segs, size_t count);"),
    // mm/filemap.c: filemap_get_pages (static; 6.12 takes a count, 6.1 an iov_iter, the batch is argument 2 in both)
    ("filemap_get_pages", "mm/filemap.c", "static int filemap_get_pages(struct kiocb *iocb, size_t count, struct folio_batch *fbatch, bool need_uptodate);"),
    // include/linux/bio.h, block/blk.h
    ("bio_add_page", "include/linux/bio.h", "int bio_add_page(struct bio *bio, struct page *page, unsigned len, unsigned off);"),
    ("__bio_add_page", "include/linux/bio.h", "void __bio_add_page(struct bio *bio, struct page *page, unsigned int len, unsigned int off);"),
    ("bio_add_zone_append_page", "include/linux/bio.h", "int bio_add_zone_append_page(struct bio *bio, struct page *page, unsigned int len, unsigned int offset);"),
    ("bio_add_folio", "include/linux/bio.h", "bool bio_add_folio(struct bio *bio, struct folio *folio, size_t len, size_t off);"),
    ("bio_add_folio_nofail", "include/linux/bio.h", "void bio_add_folio_nofail(struct bio *bio, struct folio *folio, size_t len, size_t off);"),
    ("bio_add_pc_page", "include/linux/bio.h", "int bio_add_pc_page(struct request_queue *q, struct bio *bio, struct page *page, unsigned int len, unsigned int offset);"),
    ("bio_add_hw_page", "block/blk.h", "int bio_add_hw_page(struct request_queue *q, struct bio *bio, struct page *page, unsigned int len, unsigned int offset, unsigned int max_sectors, bool *same_page);"),
    ("bio_add_hw_folio", "block/blk.h", "int bio_add_hw_folio(struct request_queue *q, struct bio *bio, struct folio *folio, size_t len, size_t offset, unsigned int max_sectors, bool *same_page);"),
    // include/linux/scatterlist.h
    ("sg_set_page", "include/linux/scatterlist.h", "void sg_set_page(struct scatterlist *sg, struct page *page, unsigned int len, unsigned int offset);"),
    ("sg_set_folio", "include/linux/scatterlist.h", "void sg_set_folio(struct scatterlist *sg, struct folio *folio, size_t len, size_t offset);"),
    ("sg_alloc_table_from_pages", "include/linux/scatterlist.h", "int sg_alloc_table_from_pages(struct sg_table *sgt, struct page **pages, unsigned int n_pages, unsigned int offset, unsigned long size, gfp_t gfp_mask);"),
    ("sg_alloc_table_from_pages_segment", "include/linux/scatterlist.h", "int sg_alloc_table_from_pages_segment(struct sg_table *sgt, struct page **pages, unsigned int n_pages, unsigned int offset, unsigned long size, unsigned int max_segment, gfp_t gfp_mask);"),
    ("__sg_alloc_table_from_pages", "include/linux/scatterlist.h", "struct scatterlist *__sg_alloc_table_from_pages(struct sg_table *sgt, struct page **pages, unsigned int n_pages, unsigned int offset, unsigned long size, unsigned int max_segment, struct scatterlist *prv, unsigned int left_pages, gfp_t gfp_mask);"),
    // include/linux/dma-mapping.h (dma_map_page is a macro over dma_map_page_attrs), include/rdma/ib_verbs.h
    ("dma_map_page", "include/linux/dma-mapping.h", "#define dma_map_page(d, p, o, s, r) dma_map_page_attrs(d, p, o, s, r, 0)"),
    ("dma_map_page_attrs", "include/linux/dma-mapping.h", "dma_addr_t dma_map_page_attrs(struct device *dev, struct page *page, size_t offset, size_t size, enum dma_data_direction dir, unsigned long attrs);"),
    ("ib_dma_map_page", "include/rdma/ib_verbs.h", "u64 ib_dma_map_page(struct ib_device *dev, struct page *page, unsigned long offset, size_t size, enum dma_data_direction direction);"),
    // include/linux/skbuff.h
    ("skb_fill_page_desc", "include/linux/skbuff.h", "void skb_fill_page_desc(struct sk_buff *skb, int i, struct page *page, int off, int size);"),
    ("skb_fill_page_desc_noacc", "include/linux/skbuff.h", "void skb_fill_page_desc_noacc(struct sk_buff *skb, int i, struct page *page, int off, int size);"),
    ("__skb_fill_page_desc", "include/linux/skbuff.h", "void __skb_fill_page_desc(struct sk_buff *skb, int i, struct page *page, int off, int size);"),
    ("__skb_fill_page_desc_noacc", "include/linux/skbuff.h", "void __skb_fill_page_desc_noacc(struct skb_shared_info *shinfo, int i, struct page *page, int off, int size);"),
    ("skb_add_rx_frag", "include/linux/skbuff.h", "void skb_add_rx_frag(struct sk_buff *skb, int i, struct page *page, int off, int size, unsigned int truesize);"),
    // include/linux/net.h, include/net/tcp.h, net/socket.c (page = -1: any argument)
    ("sock_sendmsg", "include/linux/net.h", "int sock_sendmsg(struct socket *sock, struct msghdr *msg);"),
    ("kernel_sendmsg", "include/linux/net.h", "int kernel_sendmsg(struct socket *sock, struct msghdr *msg, struct kvec *vec, size_t num, size_t len);"),
    ("sock_sendmsg_nosec", "net/socket.c", "static int sock_sendmsg_nosec(struct socket *sock, struct msghdr *msg);"),
    ("tcp_sendmsg_locked", "include/net/tcp.h", "int tcp_sendmsg_locked(struct sock *sk, struct msghdr *msg, size_t size);"),
    // 6.1: include/linux/net.h, include/net/tcp.h
    ("kernel_sendpage", "include/linux/net.h", "int kernel_sendpage(struct socket *sock, struct page *page, int offset, size_t size, int flags);"),
    ("kernel_sendpage_locked", "include/linux/net.h", "int kernel_sendpage_locked(struct sock *sk, struct page *page, int offset, size_t size, int flags);"),
    ("do_tcp_sendpages", "include/net/tcp.h", "ssize_t do_tcp_sendpages(struct sock *sk, struct page *page, int offset, size_t size, int flags);"),
    // include/linux/bvec.h
    ("bvec_set_page", "include/linux/bvec.h", "void bvec_set_page(struct bio_vec *bv, struct page *page, unsigned int len, unsigned int offset);"),
    ("bvec_set_folio", "include/linux/bvec.h", "void bvec_set_folio(struct bio_vec *bv, struct folio *folio, size_t len, size_t offset);"),
];

/// The rule entries: (table, position, id, names, argument, index).
fn entries(rules: &Rules) -> Vec<(String, Vec<String>, &'static str, i32)> {
    let mut v = Vec::new();
    for (i, s) in rules.source.iter().enumerate() {
        let r = format!("[[source]] #{} ({})", i + 1, s.id);
        v.push((r.clone(), s.names.clone(), "pages", s.pages));
        if let Some(f) = s.flags {
            v.push((r, s.names.clone(), "flags", f as i32));
        }
    }
    for (i, s) in rules.sink.iter().enumerate() {
        v.push((
            format!("[[sink]] #{} ({})", i + 1, s.id),
            s.names.clone(),
            "page",
            s.page,
        ));
    }
    for (i, t) in rules.transfer.iter().enumerate() {
        let r = format!("[[transfer]] #{}", i + 1);
        v.push((r.clone(), t.names.clone(), "from", t.from as i32));
        v.push((r, t.names.clone(), "to", t.to as i32));
    }
    v
}

/// A fixture tree with every prototype of the table in its header.
fn proto_tree(extra: &[(&str, String)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::write(d.path().join("Makefile"), "VERSION = 6\nPATCHLEVEL = 12\n").expect("write");
    let mut by_file: BTreeMap<&str, String> = BTreeMap::new();
    for (_, file, proto) in PROTOS {
        let e = by_file.entry(file).or_default();
        e.push_str(proto);
        e.push('\n');
    }
    for (file, text) in by_file.iter() {
        let full = d.path().join(file);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, text).expect("write");
    }
    std::fs::create_dir_all(d.path().join("include/linux")).expect("mkdir");
    for (p, text) in extra {
        let full = d.path().join(p);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, text).expect("write");
    }
    d
}

fn audit(root: &std::path::Path, rules_text: &str) -> Outcome {
    let rules = Rules::parse(rules_text, "test").expect("rules");
    scan::audit_tree(root, &rules, rules_text, None)
        .expect("audit")
        .0
}

fn table() -> BTreeMap<&'static str, &'static str> {
    PROTOS.iter().map(|(n, _, p)| (*n, *p)).collect()
}

/// Every name of every rule entry with an argument index has a prototype in the table, and
/// the tool's check of the built-in rules against them finds no mismatch and checks each one.
#[test]
fn every_rule_entry_agrees_with_the_kernel_prototypes() {
    let rules = Rules::builtin().expect("rules");
    let t = table();
    for (rule, names, what, _) in entries(&rules) {
        for n in names.iter().filter(|n| !n.starts_with("->")) {
            assert!(
                t.contains_key(n.as_str()),
                "{rule} {what}: {n} has no prototype in this test's table: add it"
            );
        }
    }
    let d = proto_tree(&[]);
    let o = audit(d.path(), BUILTIN);
    let bad: Vec<_> = o.rules_check.mismatches().collect();
    assert!(bad.is_empty(), "mismatches: {bad:#?}");
    for (rule, names, what, _) in entries(&rules) {
        for n in names.iter().filter(|n| !n.starts_with("->")) {
            let c = o
                .rules_check
                .checks
                .iter()
                .find(|c| c.rule == rule && &c.name == n && c.what == what)
                .unwrap_or_else(|| panic!("{rule} {n} {what} not checked"));
            assert_eq!(c.status, "ok", "{c:#?}");
        }
    }
    // dma_map_page is a macro: checked through the function its body calls.
    let m = o
        .rules_check
        .checks
        .iter()
        .find(|c| c.name == "dma_map_page")
        .expect("dma_map_page checked");
    assert!(m.detail.contains("dma_map_page_attrs"), "{m:#?}");
}

/// The 2026 rules gave argument 1 (the bio) for the request-queue helpers: the check names
/// the rule, the function, the argument and where the page really is.
#[test]
fn a_wrong_page_index_is_a_mismatch_naming_the_rule() {
    let wrong = BUILTIN.replace(
        "names = [\"bio_add_pc_page\", \"bio_add_hw_page\", \"bio_add_hw_folio\"]\npage = 2",
        "names = [\"bio_add_pc_page\", \"bio_add_hw_page\", \"bio_add_hw_folio\"]\npage = 1",
    );
    assert_ne!(wrong, BUILTIN, "the fixture edit must apply");
    let d = proto_tree(&[]);
    let o = audit(d.path(), &wrong);
    let bad: Vec<_> = o.rules_check.mismatches().collect();
    assert_eq!(bad.len(), 3, "{bad:#?}");
    for c in &bad {
        assert!(c.rule.starts_with("[[sink]] #") && c.rule.ends_with("(bio)"));
        assert!(
            c.detail.contains("argument 1 is `bio *bio`"),
            "{}",
            c.detail
        );
        assert!(
            c.detail.contains("page-typed arguments here: 2"),
            "{}",
            c.detail
        );
    }
    // The CLI refuses to audit with such rules: exit 2, naming the rule.
    let rf = d.path().join("wrong.toml");
    std::fs::write(&rf, &wrong).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pvmm-audit"))
        .arg(d.path())
        .arg("--no-cache")
        .arg("--rules")
        .arg(&rf)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("(bio) bio_add_pc_page: page = 1"), "{err}");
}

/// For every sink entry: a FOLL_GET page at the rule's page argument is a finding through
/// that sink; the page at another argument (where the kernel function takes no page) is not.
#[test]
fn every_sink_entry_follows_the_page_at_its_argument_only() {
    let rules = Rules::builtin().expect("rules");
    let t = table();
    for (k, s) in rules.sink.iter().enumerate() {
        for name in s.names.iter().filter(|n| !n.starts_with("->")) {
            let proto = t[name.as_str()];
            let arity = if proto.starts_with("#define") {
                5
            } else {
                proto.matches(',').count() + 1
            };
            let call = |at: usize| {
                (0..arity)
                    .map(|i| if i == at { "pages[0]" } else { "x" })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let good = if s.page < 0 { 1 } else { s.page as usize };
            let other = (0..arity).find(|&i| i != good).expect("two args");
            let splice = if s.requires_const.is_some() {
                "\tint fl = MSG_SPLICE_PAGES;\n"
            } else {
                ""
            };
            let body = |at: usize| {
                format!(
                    "int f(unsigned long addr, long x)\n{{\n\tstruct page *pages[4];\n{splice}\tget_user_pages_fast(addr, 1, FOLL_WRITE, pages);\n\t{name}({});\n\treturn 0;\n}}\n",
                    call(at)
                )
            };
            let d = proto_tree(&[("drivers/x/a.c", body(good))]);
            let o = audit(d.path(), BUILTIN);
            assert!(
                o.findings
                    .iter()
                    .any(|f| f.chain.last().is_some_and(|h| &h.callee == name)),
                "[[sink]] #{} {name}: page at argument {good} not reported: {:#?}",
                k + 1,
                o.findings
            );
            if s.page >= 0 {
                let d = proto_tree(&[("drivers/x/a.c", body(other))]);
                let o = audit(d.path(), BUILTIN);
                assert!(
                    !o.findings
                        .iter()
                        .any(|f| f.chain.last().is_some_and(|h| &h.callee == name)),
                    "[[sink]] #{} {name}: page at argument {other} reported",
                    k + 1
                );
            }
        }
    }
}

/// For every source entry: the page array at the rule's `pages` argument is followed to a
/// sink; a FOLL_PIN in the rule's `flags` argument covers the call.
#[test]
fn every_source_entry_seeds_its_pages_argument_and_reads_its_flags() {
    let rules = Rules::builtin().expect("rules");
    let t = table();
    for (k, s) in rules.source.iter().enumerate() {
        for name in &s.names {
            let proto = t[name.as_str()];
            let arity = proto.matches(',').count() + 1;
            let call = |flags: &str| {
                (0..arity)
                    .map(|i| {
                        if i as i32 == s.pages {
                            if proto.contains("folio_batch") {
                                "&fbatch".to_string()
                            } else if proto.contains("***") {
                                "&pages".to_string()
                            } else {
                                "pages".to_string()
                            }
                        } else if Some(i) == s.flags {
                            flags.to_string()
                        } else {
                            "x".to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let sink = if proto.contains("folio_batch") {
                "bio_add_folio(bio, fbatch.folios[0], 4096, 0)"
            } else {
                "bio_add_page(bio, pages[0], 4096, 0)"
            };
            let body = |flags: &str| {
                format!(
                    "int f(struct bio *bio, long x)\n{{\n\tstruct page **pages;\n\tstruct folio_batch fbatch;\n\t{name}({});\n\t{sink};\n\treturn 0;\n}}\n",
                    call(flags)
                )
            };
            let d = proto_tree(&[("fs/x/a.c", body("FOLL_WRITE"))]);
            let o = audit(d.path(), BUILTIN);
            assert!(
                o.findings.iter().any(|f| &f.chain[0].callee == name),
                "[[source]] #{} {name}: pages argument {} not followed: {:#?}",
                k + 1,
                s.pages,
                o.findings
            );
            if s.flags.is_some() {
                let d = proto_tree(&[("fs/x/a.c", body("FOLL_WRITE | FOLL_PIN"))]);
                let o = audit(d.path(), BUILTIN);
                assert!(
                    o.findings.iter().all(|f| &f.chain[0].callee != name),
                    "[[source]] #{} {name}: FOLL_PIN in argument {:?} not read",
                    k + 1,
                    s.flags
                );
            }
        }
    }
}

/// For every transfer entry: a page moved from `from` into `to` reaches a sink through `to`.
#[test]
fn every_transfer_entry_moves_the_page_from_its_argument() {
    let rules = Rules::builtin().expect("rules");
    let t = table();
    for (k, tr) in rules.transfer.iter().enumerate() {
        for name in &tr.names {
            let arity = t[name.as_str()].matches(',').count() + 1;
            let args: Vec<&str> = (0..arity)
                .map(|i| {
                    if i == tr.from {
                        "pages[0]"
                    } else if i == tr.to {
                        "&bv"
                    } else {
                        "x"
                    }
                })
                .collect();
            let src = format!(
                "int f(struct scatterlist *sg, unsigned long addr, long x)\n{{\n\tstruct page *pages[4];\n\tstruct bio_vec bv;\n\tget_user_pages_fast(addr, 1, FOLL_WRITE, pages);\n\t{name}({});\n\tsg_set_page(sg, bv, 4096, 0);\n\treturn 0;\n}}\n",
                args.join(", ")
            );
            let d = proto_tree(&[("drivers/x/a.c", src)]);
            let o = audit(d.path(), BUILTIN);
            assert!(
                o.findings
                    .iter()
                    .any(|f| f.chain.last().is_some_and(|h| h.callee == "sg_set_page")),
                "[[transfer]] #{} {name}: from {} to {} not followed",
                k + 1,
                tr.from,
                tr.to
            );
        }
    }
}
