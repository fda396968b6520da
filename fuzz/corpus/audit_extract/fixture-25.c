
int old_send(struct file *file, unsigned long addr)
{
	struct page *page;
	get_user_pages_fast(addr, 1, 0, &page);
	return file->f_op->sendpage(file, page, 0, 4096, NULL, 0);
}
