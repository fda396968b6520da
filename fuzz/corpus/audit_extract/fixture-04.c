
static int export_page(struct page *page)
{
	return arch_make_folio_accessible(page_folio(page));
}
