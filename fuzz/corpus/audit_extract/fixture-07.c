
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
