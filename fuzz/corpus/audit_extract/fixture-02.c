
int dio_submit(struct bio *bio, unsigned long addr, int n)
{
	struct page *pages[16];
	int got, i;

	got = get_user_pages_fast(addr, n, FOLL_WRITE, pages);
	for (i = 0; i < got; i++)
		bio_add_page(bio, pages[i], PAGE_SIZE, 0);
	return got;
}
