
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
