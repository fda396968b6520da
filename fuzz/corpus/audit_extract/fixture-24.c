
int send_copy(struct socket *sock, unsigned long addr)
{
	struct page *page;
	struct msghdr msg = {};
	struct bio_vec bv;
	get_user_pages_fast(addr, 1, 0, &page);
	bvec_set_page(&bv, page, 4096, 0);
	iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, &bv, 1, 4096);
	return sock_sendmsg(sock, &msg);
}
