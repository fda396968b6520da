
static int cache_confirm(struct pipe_inode_info *pipe, struct pipe_buffer *buf)
{{
{confirm_body}
	return 0;
}}
const struct pipe_buf_operations cache_pipe_ops = {{
	.confirm = cache_confirm,
}};
