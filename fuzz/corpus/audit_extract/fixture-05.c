
int c(struct bio *bio, unsigned long addr)
{
	struct page *pages[4];
	get_user_pages_fast(addr, 4, 0, pages);
	export_page(pages[0]);
	bio_add_page(bio, pages[0], PAGE_SIZE, 0);
	return 0;
}
