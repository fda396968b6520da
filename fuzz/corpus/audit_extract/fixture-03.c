
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
