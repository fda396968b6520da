
static int nic_xmit(struct nic *nic, struct page *pg)
{
	return dma_map_page(nic->dev, pg, 0, PAGE_SIZE, DMA_TO_DEVICE) != 0;
}
static const struct xmit_ops nic_ops = {
	.xmit = nic_xmit,
};
