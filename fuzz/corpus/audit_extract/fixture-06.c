
int d(struct bio *bio, unsigned long addr, int secure)
{
	struct page *pages[4];
	get_user_pages_fast(addr, 4, 0, pages);
	if (secure)
		arch_make_folio_accessible(page_folio(pages[0]));
	bio_add_page(bio, pages[0], PAGE_SIZE, 0);
	return 0;
}
