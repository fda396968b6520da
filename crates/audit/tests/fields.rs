//! Field- and alias-sensitive tracking: a page stored into `obj->field` (or an array in it) is
//! read back by any function reading the same field of the same struct type; aliases of page
//! arrays; where the trail is lost the site is `lost` with `file:line (why)`, never `no-io`.
//! Fixtures written for these tests (shapes of NFS direct I/O and SG_IO), not kernel code.

use audit::analysis::{Outcome, Site};
use audit::rules::{Rules, BUILTIN};
use audit::scan;

fn audit(files: &[(&str, &str)]) -> Outcome {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::write(d.path().join("Makefile"), "# fixture\n").expect("write");
    std::fs::create_dir_all(d.path().join("include/linux")).expect("mkdir");
    for (p, text) in files {
        let full = d.path().join(p);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, text).expect("write");
    }
    let rules = Rules::builtin().expect("rules");
    scan::audit_tree(d.path(), &rules, BUILTIN, None)
        .expect("audit")
        .0
}

fn site<'a>(o: &'a Outcome, func: &str) -> &'a Site {
    o.sites
        .iter()
        .find(|s| s.func == func)
        .unwrap_or_else(|| panic!("no site in {func}: {:#?}", o.sites))
}

const PRODUCER: &str = r#"
struct my_req {
	struct page *page;
	struct page **pages;
	int nr;
};

int make_req(struct my_req *req, unsigned long addr)
{
	struct page *page;
	int n = get_user_pages_fast(addr, 1, FOLL_WRITE, &page);
	req->page = page;
	return n;
}
"#;

const CONSUMER: &str = r#"
void send_req(struct bio *bio, struct my_req *r)
{
	bio_add_page(bio, r->page, 4096, 0);
}
"#;

#[test]
fn a_page_stored_into_a_field_is_followed_to_the_reader_in_another_file() {
    let o = audit(&[("fs/x/make.c", PRODUCER), ("fs/x/send.c", CONSUMER)]);
    let s = site(&o, "make_req");
    assert_eq!(s.class, "finding", "{s:#?}");
    let f = o
        .findings
        .iter()
        .find(|f| f.chain[0].func == "make_req")
        .expect("finding");
    let notes: Vec<&str> = f.chain.iter().map(|h| h.note.as_str()).collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("stores the page in struct my_req.page")),
        "{notes:#?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("reads the page back from struct my_req.page")),
        "{notes:#?}"
    );
    assert_eq!(
        f.chain.last().map(|h| h.callee.as_str()),
        Some("bio_add_page")
    );
    assert_eq!(f.chain.last().map(|h| h.file.as_str()), Some("fs/x/send.c"));
    assert!(f.why.contains("through struct my_req.page"));
}

#[test]
fn the_same_field_name_of_another_struct_type_is_not_the_same_field() {
    let other = CONSUMER.replace("struct my_req *r", "struct other_req *r");
    let o = audit(&[("fs/x/make.c", PRODUCER), ("fs/x/send.c", &other)]);
    assert!(o.findings.is_empty(), "{:#?}", o.findings);
    let s = site(&o, "make_req");
    assert_eq!(s.class, "lost");
    assert!(
        s.detail
            .starts_with("lost at fs/x/make.c:12 (stored into struct my_req.page: 0 reader(s)"),
        "{}",
        s.detail
    );
}

#[test]
fn an_alias_of_a_page_array_in_a_struct_carries_the_pages() {
    let src = r#"
struct dreq {
	struct page **pages;
	int nr;
};

int fill(struct dreq *dr, unsigned long addr)
{
	struct page **pages = dr->pages;
	return get_user_pages_fast(addr, dr->nr, 0, pages);
}

void issue(struct scatterlist *sg, struct dreq *d)
{
	int i;
	for (i = 0; i < d->nr; i++)
		sg_set_page(&sg[i], d->pages[i], 4096, 0);
}
"#;
    let o = audit(&[("drivers/x/d.c", src)]);
    let s = site(&o, "fill");
    assert_eq!(s.class, "finding", "{s:#?}");
    let f = &o.findings[0];
    assert!(f.chain.iter().any(|h| h.note.contains("struct dreq.pages")));
    assert_eq!(f.chain.last().map(|h| h.func.as_str()), Some("issue"));
    // Without the alias (the pages go to a local array) nothing reaches dr->pages.
    let no_alias = src.replace("struct page **pages = dr->pages;", "struct page *pages[4];");
    let o = audit(&[("drivers/x/d.c", &no_alias)]);
    assert!(o.findings.is_empty(), "{:#?}", o.findings);
}

#[test]
fn a_page_handed_to_a_callee_without_definition_is_lost_not_no_io() {
    let src = r#"
int h(unsigned long addr)
{
	struct page *page;
	int n = get_user_pages_fast(addr, 1, 0, &page);
	mystery_consume(page);
	put_page(page);
	return n;
}
"#;
    let o = audit(&[("mm/h.c", src)]);
    let s = site(&o, "h");
    assert_eq!(s.class, "lost");
    assert_eq!(
        s.detail,
        "lost at mm/h.c:6 (passed to mystery_consume(), whose definition is in no parsed file \
         (a macro, or a file the widening did not reach))"
    );
}

#[test]
fn a_page_hidden_in_an_integer_is_lost() {
    let src = r#"
int h(unsigned long addr)
{
	struct page *page;
	unsigned long v;
	int n = get_user_pages_fast(addr, 1, 0, &page);
	v = (unsigned long)page;
	return n;
}
"#;
    let o = audit(&[("mm/h.c", src)]);
    let s = site(&o, "h");
    assert_eq!(s.class, "lost");
    assert!(
        s.detail
            .starts_with("lost at mm/h.c:7 (assigned to `v` of type unsigned long"),
        "{}",
        s.detail
    );
}

#[test]
fn no_io_only_when_established() {
    let src = r#"
int h(unsigned long addr)
{
	struct page *page;
	int n = get_user_pages_fast(addr, 1, 0, &page);
	if (n == 1) {
		if (PageAnon(page))
			set_page_dirty_lock(page);
		put_page(page);
	}
	return n;
}
"#;
    let o = audit(&[("mm/h.c", src)]);
    let s = site(&o, "h");
    assert_eq!(s.class, "no-io", "{s:#?}");
    assert!(s.detail.starts_with("established"));
}

#[test]
fn a_field_read_that_calls_the_hook_is_not_a_finding() {
    let consumer = r#"
void send_req(struct bio *bio, struct my_req *r)
{
	arch_make_page_accessible(r->page);
	bio_add_page(bio, r->page, 4096, 0);
}
"#;
    let o = audit(&[("fs/x/make.c", PRODUCER), ("fs/x/send.c", consumer)]);
    assert!(o.findings.is_empty(), "{:#?}", o.findings);
    let s = site(&o, "make_req");
    assert_eq!(s.class, "lost");
    assert!(s.detail.contains("(1 call the hook)"), "{}", s.detail);
}
