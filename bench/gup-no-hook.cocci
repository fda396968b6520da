// The one-function question, for comparison with `pvmm audit` (bench/audit-linux):
// "a function takes a page reference (GUP family, iov_iter_get_pages*) and does not call the
// accessibility hook itself".
@r@
identifier fn;
position p;
@@
fn(...) {
  ... when != arch_make_page_accessible(...)
      when != arch_make_folio_accessible(...)
      when any
(
  get_user_pages@p(...)
| get_user_pages_fast@p(...)
| get_user_pages_fast_only@p(...)
| get_user_pages_remote@p(...)
| get_user_pages_unlocked@p(...)
| pin_user_pages@p(...)
| pin_user_pages_fast@p(...)
| pin_user_pages_remote@p(...)
| pin_user_pages_unlocked@p(...)
| iov_iter_get_pages@p(...)
| iov_iter_get_pages2@p(...)
| iov_iter_get_pages_alloc@p(...)
| iov_iter_get_pages_alloc2@p(...)
| iov_iter_extract_pages@p(...)
)
  ... when != arch_make_page_accessible(...)
      when != arch_make_folio_accessible(...)
      when any
}

@script:python@
p << r.p;
fn << r.fn;
@@
print("%s:%s: %s" % (p[0].file, p[0].line, fn))
