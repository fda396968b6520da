
ssize_t to_socket(struct pipe_inode_info *pipe, struct socket *sock)
{
	struct bio_vec bvec[16];
	struct msghdr msg = {};
	int bc = 0;
	struct pipe_buffer *buf = pipe_tail_buf(pipe);
	pipe_buf_confirm(pipe, buf);
	bvec_set_page(&bvec[bc++], buf->page, buf->len, buf->offset);
	msg.msg_flags = MSG_SPLICE_PAGES;
	iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, bvec, bc, 4096);
	return sock_sendmsg(sock, &msg);
}
