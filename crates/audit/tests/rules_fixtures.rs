//! Small C fixtures (written for these tests, not kernel code) for every rule kind, positive and
//! negative, plus calls through ops tables, hooks in callees, carriers, widening and parse errors.

use audit::analysis::{Finding, Outcome, Site};
use audit::rules::{Rules, BUILTIN};
use audit::scan;
use std::path::Path;

/// A minimal tree that passes the kernel-tree check, with the given files.
pub fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::write(d.path().join("Makefile"), "# fixture\n").expect("write");
    std::fs::create_dir_all(d.path().join("include/linux")).expect("mkdir");
    for (p, text) in files {
        let full = d.path().join(p);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(full, text).expect("write");
    }
    d
}

fn audit_with(root: &Path, rules_text: &str) -> Outcome {
    let rules = Rules::parse(rules_text, "test").expect("rules");
    scan::audit_tree(root, &rules, rules_text, None)
        .expect("audit")
        .0
}

fn audit(files: &[(&str, &str)]) -> Outcome {
    let t = tree(files);
    audit_with(t.path(), BUILTIN)
}

fn site<'a>(o: &'a Outcome, func: &str) -> &'a Site {
    o.sites
        .iter()
        .find(|s| s.func == func)
        .unwrap_or_else(|| panic!("no site in {func}: {:#?}", o.sites))
}

fn finding_from<'a>(o: &'a Outcome, func: &str) -> Option<&'a Finding> {
    o.findings.iter().find(|f| f.chain[0].func == func)
}

const GUP_TO_BIO: &str = r#"
int dio_submit(struct bio *bio, unsigned long addr, int n)
{
	struct page *pages[16];
	int got, i;

	got = get_user_pages_fast(addr, n, FOLL_WRITE, pages);
	for (i = 0; i < got; i++)
		bio_add_page(bio, pages[i], PAGE_SIZE, 0);
	return got;
}
"#;

#[test]
fn foll_get_gup_to_bio_is_a_finding_with_chain_and_scenario() {
    let o = audit(&[("block/dio.c", GUP_TO_BIO)]);
    let f = finding_from(&o, "dio_submit").expect("finding");
    assert_eq!(f.rule, "gup-foll-get");
    assert_eq!(f.scenario.as_deref(), Some("d2-direct-io-foll-get"));
    assert_eq!(f.subsystem, "block");
    assert_eq!(f.chain.len(), 2);
    assert_eq!(
        (f.chain[0].file.as_str(), f.chain[0].line),
        ("block/dio.c", 7)
    );
    assert_eq!(f.chain[1].callee, "bio_add_page");
    assert_eq!(f.chain[1].line, 9);
    assert!(f.id.starts_with("PVA-"));
    assert_eq!(site(&o, "dio_submit").class, "finding");
}

#[test]
fn foll_pin_gup_and_pin_user_pages_are_covered() {
    let src = r#"
int a(struct bio *bio, unsigned long addr)
{
	struct page *pages[4];
	get_user_pages_fast(addr, 4, FOLL_WRITE | FOLL_PIN, pages);
	bio_add_page(bio, pages[0], PAGE_SIZE, 0);
	return 0;
}
int b(struct bio *bio, unsigned long addr)
{
	struct page *pages[4];
	pin_user_pages_fast(addr, 4, FOLL_WRITE, pages);
	bio_add_page(bio, pages[0], PAGE_SIZE, 0);
	return 0;
}
"#;
    let o = audit(&[("block/pin.c", src)]);
    assert!(o.findings.is_empty(), "{:#?}", o.findings);
    assert_eq!(site(&o, "a").class, "covered");
    assert_eq!(site(&o, "b").class, "covered");
}

const EXPORT_HELPER: &str = r#"
static int export_page(struct page *page)
{
	return arch_make_folio_accessible(page_folio(page));
}
"#;

#[test]
fn hook_in_a_callee_covers_the_page() {
    let src = format!(
        "{EXPORT_HELPER}{}",
        r#"
int c(struct bio *bio, unsigned long addr)
{
	struct page *pages[4];
	get_user_pages_fast(addr, 4, 0, pages);
	export_page(pages[0]);
	bio_add_page(bio, pages[0], PAGE_SIZE, 0);
	return 0;
}
"#
    );
    let o = audit(&[("drivers/x/x.c", &src)]);
    assert!(o.findings.is_empty(), "{:#?}", o.findings);
    let s = site(&o, "c");
    assert_eq!(s.class, "covered");
    assert!(s.detail.contains("export_page"), "{}", s.detail);
}

#[test]
fn hook_only_on_one_branch_does_not_cover() {
    let src = r#"
int d(struct bio *bio, unsigned long addr, int secure)
{
	struct page *pages[4];
	get_user_pages_fast(addr, 4, 0, pages);
	if (secure)
		arch_make_folio_accessible(page_folio(pages[0]));
	bio_add_page(bio, pages[0], PAGE_SIZE, 0);
	return 0;
}
"#;
    let o = audit(&[("drivers/x/x.c", src)]);
    assert!(finding_from(&o, "d").is_some(), "{:#?}", o.sites);
}

#[test]
fn writeback_start_covers() {
    let src = r#"
int e(struct bio *bio, unsigned long addr)
{
	struct page *page;
	struct folio *folio;
	get_user_pages_fast(addr, 1, 0, &page);
	folio = page_folio(page);
	folio_start_writeback(folio);
	bio_add_folio(bio, folio, PAGE_SIZE, 0);
	return 0;
}
"#;
    let o = audit(&[("fs/x/wb.c", src)]);
    assert!(o.findings.is_empty(), "{:#?}", o.findings);
    assert_eq!(site(&o, "e").class, "covered");
}

#[test]
fn sink_in_a_callee_in_another_file_gives_a_cross_function_chain() {
    let helper = r#"
void fill_sg(struct scatterlist *sg, struct page *pg, unsigned int len)
{
	sg_set_page(sg, pg, len, 0);
}
"#;
    let user = r#"
int f(struct scatterlist *sg, struct iov_iter *it)
{
	struct page *pages[8];
	size_t off;
	ssize_t n = iov_iter_get_pages2(it, pages, 4096, 8, &off);
	struct page *p = pages[0];
	fill_sg(sg, p, n);
	return 0;
}
"#;
    let o = audit(&[("lib/sghelp.c", helper), ("drivers/y/user.c", user)]);
    let f = finding_from(&o, "f").expect("finding");
    assert_eq!(f.rule, "iov-iter-get-pages");
    let hops: Vec<(&str, &str)> = f
        .chain
        .iter()
        .map(|h| (h.func.as_str(), h.callee.as_str()))
        .collect();
    assert_eq!(
        hops,
        vec![
            ("f", "iov_iter_get_pages2"),
            ("f", "fill_sg"),
            ("fill_sg", "sg_set_page")
        ]
    );
    assert_eq!(f.chain[2].file, "lib/sghelp.c");
    assert_eq!(f.chain[2].line, 4);
}

#[test]
fn wrapper_returning_a_referenced_page_is_followed_to_its_callers() {
    let src = r#"
static struct page *grab_one(unsigned long addr)
{
	struct page *page;
	if (get_user_pages_fast(addr, 1, 0, &page) != 1)
		return NULL;
	return page;
}
int g(struct device *dev, unsigned long addr)
{
	struct page *p = grab_one(addr);
	dma_map_page(dev, p, 0, PAGE_SIZE, DMA_TO_DEVICE);
	return 0;
}
"#;
    let o = audit(&[("drivers/z/z.c", src)]);
    assert_eq!(site(&o, "grab_one").class, "returned-to-caller");
    let f = o
        .findings
        .iter()
        .find(|f| f.chain.last().map(|h| h.callee.as_str()) == Some("dma_map_page"))
        .expect("finding through the wrapper");
    assert_eq!(f.chain[0].func, "grab_one");
    assert!(f.chain.iter().any(|h| h.func == "g"));
}

#[test]
fn page_that_never_reaches_io_is_classified_no_io() {
    let src = r#"
int h(unsigned long addr)
{
	struct page *page;
	int n = get_user_pages_fast(addr, 1, 0, &page);
	if (n == 1)
		put_page(page);
	return n;
}
"#;
    let o = audit(&[("mm/h.c", src)]);
    assert!(o.findings.is_empty());
    assert_eq!(site(&o, "h").class, "no-io");
}

#[test]
fn zerocopy_skb_frag_is_the_zerocopy_scenario() {
    let src = r#"
int zc(struct sk_buff *skb, struct iov_iter *from)
{
	struct page *pages[17];
	size_t start;
	ssize_t copied = iov_iter_get_pages2(from, pages, 65536, 17, &start);
	int n = 0, frag = 0;
	while (copied > 0) {
		struct page *head = compound_head(pages[n]);
		skb_fill_page_desc_noacc(skb, frag++, head, start, 4096);
		copied -= 4096;
		n++;
	}
	return 0;
}
"#;
    let o = audit(&[("net/core/zc.c", src)]);
    let f = finding_from(&o, "zc").expect("finding");
    assert_eq!(f.scenario.as_deref(), Some("zerocopy-send"));
    assert_eq!(f.subsystem, "net/core");
}

const PIPE_HEADER: &str = r#"
struct pipe_buffer {
	struct page *page;
	unsigned int offset, len;
	const struct pipe_buf_operations *ops;
};
static inline int pipe_buf_confirm(struct pipe_inode_info *pipe, struct pipe_buffer *buf)
{
	if (!buf->ops->confirm)
		return 0;
	return buf->ops->confirm(pipe, buf);
}
"#;

fn splice_tree(confirm_body: &str) -> Vec<(&'static str, String)> {
    let producer = r#"
static void put_in_pipe(struct pipe_inode_info *pipe, struct folio *folio)
{
	struct page *page = folio_page(folio, 0);
	struct pipe_buffer *buf = pipe_head_buf(pipe);
	*buf = (struct pipe_buffer) {
		.ops = &cache_pipe_ops,
		.page = page,
		.len = 4096,
	};
	folio_get(folio);
}
ssize_t my_splice_read(struct file *in, struct pipe_inode_info *pipe, size_t len)
{
	struct folio_batch fbatch;
	int i, err;
	err = filemap_get_pages(&iocb, len, &fbatch, true);
	for (i = 0; i < 4; i++) {
		struct folio *folio = fbatch.folios[i];
		put_in_pipe(pipe, folio);
	}
	return err;
}
"#;
    let ops = format!(
        r#"
static int cache_confirm(struct pipe_inode_info *pipe, struct pipe_buffer *buf)
{{
{confirm_body}
	return 0;
}}
const struct pipe_buf_operations cache_pipe_ops = {{
	.confirm = cache_confirm,
}};
"#
    );
    let consumer = r#"
ssize_t to_socket(struct pipe_inode_info *pipe, struct socket *sock)
{
	struct bio_vec bvec[16];
	struct msghdr msg = {};
	int bc = 0;
	struct pipe_buffer *buf = pipe_tail_buf(pipe);
	pipe_buf_confirm(pipe, buf);
	bvec_set_page(&bvec[bc++], buf->page, buf->len, buf->offset);
	msg.msg_flags = MSG_SPLICE_PAGES;
	iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, bvec, bc, 4096);
	return sock_sendmsg(sock, &msg);
}
"#;
    vec![
        ("include/linux/pipe_fs_i.h", PIPE_HEADER.to_string()),
        ("mm/filemap_fx.c", producer.to_string()),
        ("fs/splice_ops.c", ops),
        ("fs/splice_sock.c", consumer.to_string()),
    ]
}

#[test]
fn page_cache_page_through_pipe_buffer_to_socket_is_d3_sendfile() {
    let files = splice_tree("\t/* checks only PageUptodate */");
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let o = audit(&refs);
    let f = o
        .findings
        .iter()
        .find(|f| f.rule == "carrier-pipe-buffer")
        .unwrap_or_else(|| panic!("no carrier finding: {:#?}", o.findings));
    assert_eq!(f.scenario.as_deref(), Some("d3-sendfile"));
    let funcs: Vec<&str> = f.chain.iter().map(|h| h.func.as_str()).collect();
    assert_eq!(
        funcs,
        vec![
            "my_splice_read",
            "my_splice_read",
            "put_in_pipe",
            "cache_confirm",
            "to_socket",
            "to_socket"
        ]
    );
    assert!(f.chain[3]
        .note
        .contains("cache_pipe_ops.confirm = cache_confirm"));
    assert_eq!(f.chain[5].callee, "sock_sendmsg");
}

#[test]
fn a_confirm_op_that_calls_the_hook_covers_the_pipe_path() {
    let files = splice_tree("\tarch_make_folio_accessible(page_folio(buf->page));");
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let o = audit(&refs);
    assert!(
        o.findings.iter().all(|f| f.rule != "carrier-pipe-buffer"),
        "{:#?}",
        o.findings
    );
}

#[test]
fn call_through_an_ops_table_reaches_the_sink_of_its_target() {
    let rules = format!("{BUILTIN}\n[[ops]]\nstruct = \"xmit_ops\"\nfields = [\"xmit\"]\n");
    let driver = r#"
static int nic_xmit(struct nic *nic, struct page *pg)
{
	return dma_map_page(nic->dev, pg, 0, PAGE_SIZE, DMA_TO_DEVICE) != 0;
}
static const struct xmit_ops nic_ops = {
	.xmit = nic_xmit,
};
"#;
    let core = r#"
int send_user(struct nic *nic, unsigned long addr)
{
	struct page *page;
	get_user_pages_fast(addr, 1, 0, &page);
	return nic->ops->xmit(nic, page);
}
"#;
    let t = tree(&[("drivers/net/nic/nic.c", driver), ("net/core/send.c", core)]);
    let o = audit_with(t.path(), &rules);
    let f = finding_from(&o, "send_user").expect("finding through ->xmit");
    assert_eq!(f.chain[1].callee, "->xmit");
    assert!(
        f.chain[1].note.contains("nic_xmit via nic_ops"),
        "{}",
        f.chain[1].note
    );
    assert_eq!(f.chain[2].callee, "dma_map_page");
    // Without the ops table in the rules, the field call is not resolved.
    let o = audit_with(t.path(), BUILTIN);
    assert!(finding_from(&o, "send_user").is_none());
}

#[test]
fn widening_parses_a_file_that_only_defines_a_callee_on_the_chain() {
    // lib/pass.c names no rule function: only widening finds it, and only it leads to the sink
    // through a second callee in another file that does.
    let pass = r#"
void hand_on(struct scatterlist *sg, struct page *pg)
{
	really_hand_on(sg, pg);
}
"#;
    let really = r#"
void really_hand_on(struct scatterlist *sg, struct page *pg)
{
	sg_set_page(sg, pg, 4096, 0);
}
"#;
    let user = r#"
int w(struct scatterlist *sg, unsigned long addr)
{
	struct page *page;
	get_user_pages_fast(addr, 1, 0, &page);
	hand_on(sg, page);
	return 0;
}
"#;
    let o = audit(&[
        ("lib/pass.c", pass),
        ("lib/really.c", really),
        ("drivers/w/w.c", user),
    ]);
    let f = finding_from(&o, "w").expect("finding after widening");
    assert!(f.chain.iter().any(|h| h.func == "hand_on"));
}

#[test]
fn kernel_macros_with_parse_errors_are_tolerated_and_counted() {
    let src = r#"
static DEFINE_PER_CPU(int, counter) __weird_attr(1) = {;
int broken(struct bio *bio, unsigned long addr)
{
	struct page *pages[2];
	struct foo *f;
	get_user_pages_fast(addr, 2, 0, pages);
	list_for_each_entry(f, &head, node) {
		f->x = min_t(unsigned long, f->x, 3);
	}
	bio_add_page(bio, pages[1], PAGE_SIZE, 0);
	WEIRD_MACRO(+++);
	return 0;
}
int fine(void) { return 0; }
"#;
    let o = audit(&[("block/broken.c", src)]);
    assert!(finding_from(&o, "broken").is_some(), "{:#?}", o.sites);
    assert_eq!(o.coverage.files_parsed, 1);
    assert_eq!(o.coverage.files_clean, 0);
    assert!(o.coverage.functions >= 2);
    assert!(o.coverage.functions_clean >= 1);
}

#[test]
fn finding_ids_are_stable_when_lines_move() {
    let o1 = audit(&[("block/dio.c", GUP_TO_BIO)]);
    let moved = format!("\n\n/* a comment */\n{GUP_TO_BIO}");
    let o2 = audit(&[("block/dio.c", &moved)]);
    assert_eq!(o1.findings[0].id, o2.findings[0].id);
    assert_ne!(o1.findings[0].chain[0].line, o2.findings[0].chain[0].line);
}

#[test]
fn summaries_are_cached_by_content_hash() {
    let t = tree(&[("block/dio.c", GUP_TO_BIO)]);
    let cache = tempfile::tempdir().expect("tempdir");
    let rules = Rules::builtin().expect("rules");
    let (o1, s1) = scan::audit_tree(t.path(), &rules, BUILTIN, Some(cache.path())).expect("audit");
    assert_eq!(s1.summaries_from_cache, 0);
    let (o2, s2) = scan::audit_tree(t.path(), &rules, BUILTIN, Some(cache.path())).expect("audit");
    assert_eq!(s2.summaries_from_cache, 1);
    assert_eq!(s2.files_read, 0);
    assert!(
        s2.result_from_cache,
        "same contents and rules: the result is reused"
    );
    assert_eq!(o1.findings[0].id, o2.findings[0].id);
    // A changed file is parsed again.
    std::fs::write(
        t.path().join("block/dio.c"),
        format!("{GUP_TO_BIO}\nint x;\n"),
    )
    .expect("write");
    let (_, s3) = scan::audit_tree(t.path(), &rules, BUILTIN, Some(cache.path())).expect("audit");
    assert_eq!(s3.files_read, 1);
    assert_eq!(s3.summaries_from_cache, 0);
    assert!(!s3.result_from_cache);
    // Touching a file (same contents) keeps the result.
    let f = std::fs::File::options()
        .append(true)
        .open(t.path().join("block/dio.c"))
        .expect("open");
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .expect("touch");
    let (_, s4) = scan::audit_tree(t.path(), &rules, BUILTIN, Some(cache.path())).expect("audit");
    assert_eq!(s4.files_read, 1);
    assert!(s4.result_from_cache);
}

#[test]
fn rules_file_errors_name_the_file() {
    let e = Rules::parse("[hooks]\ndirect = []\npage_types = []\n", "my.toml").unwrap_err();
    assert!(e.to_string().contains("my.toml"), "{e}");
    let e = Rules::parse("not toml at all", "bad.toml").unwrap_err();
    assert!(e.to_string().contains("bad.toml"), "{e}");
}

#[test]
fn wrapper_filling_an_out_parameter_is_a_source_for_its_callers() {
    let src = r#"
static ssize_t get_mapped(struct iov_iter *data, struct page ***pages, size_t count)
{
	size_t off;
	return iov_iter_get_pages_alloc2(data, pages, count, &off);
}
int zc_request(struct scatterlist *sg, struct iov_iter *data)
{
	struct page **in_pages = NULL;
	ssize_t n = get_mapped(data, &in_pages, 4096);
	sg_set_page(sg, in_pages[0], n, 0);
	return 0;
}
"#;
    let o = audit(&[("net/9p/zc.c", src)]);
    assert_eq!(site(&o, "get_mapped").class, "returned-to-caller");
    let f = finding_from(&o, "get_mapped").expect("finding through the out-parameter");
    assert_eq!(f.chain[1].func, "zc_request");
    assert_eq!(f.chain[2].callee, "sg_set_page");
}

#[test]
fn socket_sink_needs_msg_splice_pages_and_sendpage_is_a_sink() {
    let copy = r#"
int send_copy(struct socket *sock, unsigned long addr)
{
	struct page *page;
	struct msghdr msg = {};
	struct bio_vec bv;
	get_user_pages_fast(addr, 1, 0, &page);
	bvec_set_page(&bv, page, 4096, 0);
	iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, &bv, 1, 4096);
	return sock_sendmsg(sock, &msg);
}
"#;
    let o = audit(&[("net/x/copy.c", copy)]);
    assert!(o.findings.is_empty(), "{:#?}", o.findings);
    assert_eq!(site(&o, "send_copy").class, "no-io");

    let splice = copy.replace("send_copy", "send_splice").replace(
        "struct bio_vec bv;",
        "struct bio_vec bv;\n\tmsg.msg_flags = MSG_SPLICE_PAGES;",
    );
    let o = audit(&[("net/x/splice.c", &splice)]);
    let f = finding_from(&o, "send_splice").expect("MSG_SPLICE_PAGES finding");
    assert_eq!(f.chain[f.chain.len() - 1].callee, "sock_sendmsg");

    let sendpage = r#"
int old_send(struct file *file, unsigned long addr)
{
	struct page *page;
	get_user_pages_fast(addr, 1, 0, &page);
	return file->f_op->sendpage(file, page, 0, 4096, NULL, 0);
}
"#;
    let o = audit(&[("fs/x/sp.c", sendpage)]);
    let f = finding_from(&o, "old_send").expect("->sendpage finding");
    assert_eq!(f.chain[1].callee, "->sendpage");
}

/// A stored analysis result belongs to the rules it was computed with: other rules over the
/// same contents analyse again (the result cache was keyed by the contents alone).
#[test]
fn a_stored_result_is_not_reused_with_other_rules() {
    let t = tree(&[("block/dio.c", GUP_TO_BIO)]);
    let cache = tempfile::tempdir().expect("cache");
    let run = |rules_text: &str| {
        let rules = Rules::parse(rules_text, "test").expect("rules");
        scan::audit_tree(t.path(), &rules, rules_text, Some(cache.path())).expect("audit")
    };
    let (o, _) = run(BUILTIN);
    assert_eq!(o.findings.len(), 1);
    let no_bio = BUILTIN.replace("\"bio_add_page\", ", "");
    assert_ne!(no_bio, BUILTIN);
    let (o2, s2) = run(&no_bio);
    assert!(!s2.result_from_cache);
    assert!(o2.findings.is_empty(), "{:#?}", o2.findings);
    let (_, s3) = run(&no_bio);
    assert!(s3.result_from_cache);
}
