/* The guest-side storvsc for tests and benchmarks (storvsc_client.h). */
#include "storvsc_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"

#define INIT_TRANS_ID (UINT64_MAX - 2) /* Linux's VMBUS_RQST_INIT */

struct storvsc_channel {
	struct storvsc_client *sc;
	struct vmbus_client_channel *vch;
	unsigned rescans;
};

struct storvsc_client {
	struct vmbus_client *vc;
	uint16_t version;
	struct vmstorage_channel_properties props;
	unsigned nch;
	struct storvsc_channel ch[64];
};

static const uint16_t linux_versions[] = {
	VMSTOR_PROTO_VERSION_WIN10,
	VMSTOR_PROTO_VERSION_WIN8_1,
	VMSTOR_PROTO_VERSION_WIN8,
};

static bool is_unsolicited(const struct vmbus_packet_desc *d, const struct vstor_packet *p,
			   size_t len)
{
	return d->trans_id == 0 && len >= 4 &&
	       (p->operation == VSTOR_OPERATION_ENUMERATE_BUS ||
		p->operation == VSTOR_OPERATION_REMOVE_DEVICE);
}

int storvsc_channel_control(struct storvsc_channel *ch, struct vstor_packet *pkt,
			    unsigned timeout_ms)
{
	int r;

	pkt->flags = VSTOR_REQUEST_COMPLETION_FLAG;
	r = vmbus_client_send(ch->vch, VMBUS_PKT_DATA_INBAND, VMBUS_PKT_FLAG_COMPLETION_REQUESTED,
			      INIT_TRANS_ID, pkt, sizeof(*pkt));
	if (r < 0)
		return r;
	for (;;) {
		struct vmbus_packet_desc d;
		struct vstor_packet in = {0};
		size_t len = sizeof(in);

		r = vmbus_client_recv_wait(ch->vch, &d, &in, &len, timeout_ms);
		if (r < 0)
			return r;
		if (is_unsolicited(&d, &in, len)) {
			ch->rescans++;
			continue;
		}
		if (d.trans_id != INIT_TRANS_ID || len < sizeof(in))
			return -EPROTO;
		*pkt = in;
		return 0;
	}
}

static int step(struct storvsc_channel *ch, uint32_t op, struct vstor_packet *io, unsigned tmo)
{
	int r;

	io->operation = op;
	r = storvsc_channel_control(ch, io, tmo);
	if (r < 0)
		return r;
	return io->operation == VSTOR_OPERATION_COMPLETE_IO ? 0 : -EPROTO;
}

static int open_subchannels(struct storvsc_client *sc,
			    const struct vmbus_msg_offer_channel *primary, unsigned n,
			    unsigned pages, unsigned tmo)
{
	struct vmbus_msg_offer_channel o[64];
	unsigned i;
	int r;

	/*
	 * Every offer first: the open sequence's own messages come after them.
	 * Sub-channels of an earlier session are rescinded meanwhile: their
	 * relids are released, as Linux's vmbus_onoffer_rescind path does.
	 */
	for (i = 0; i < n; i++) {
		uint8_t buf[VMBUS_MESSAGE_MAX_SIZE];
		struct vmbus_msg_header h;
		size_t len = sizeof(buf);

		r = vmbus_client_recv_msg(sc->vc, buf, &len, tmo);
		if (r < 0)
			return r;
		memcpy(&h, buf, sizeof(h));
		if (h.msgtype == VMBUS_MSG_RESCIND_CHANNELOFFER &&
		    len >= sizeof(struct vmbus_msg_relid)) {
			struct vmbus_msg_relid m;

			memcpy(&m, buf, sizeof(m));
			m.header.msgtype = VMBUS_MSG_RELID_RELEASED;
			if (vmbus_client_post(sc->vc, VMBUS_MESSAGE_CONNECTION_ID, &m, sizeof(m)) !=
			    VMBUS_POST_OK)
				return -EIO;
			i--;
			continue;
		}
		if (h.msgtype != VMBUS_MSG_OFFERCHANNEL || len < sizeof(o[i]))
			return -EPROTO;
		memcpy(&o[i], buf, sizeof(o[i]));
		if (!guid_equal(&o[i].offer.if_instance, &primary->offer.if_instance) ||
		    !o[i].offer.sub_channel_index)
			return -EPROTO;
	}
	for (i = 0; i < n; i++) {
		r = vmbus_client_open(sc->vc, &o[i], pages, pages, 0, &sc->ch[sc->nch].vch);
		if (r != 0)
			return r < 0 ? r : -EPROTO;
		sc->ch[sc->nch].sc = sc;
		sc->nch++;
	}
	return 0;
}

int storvsc_client_open(struct vmbus_client *vc, const struct vmbus_msg_offer_channel *offer,
			const struct storvsc_client_config *cfg, struct storvsc_client **ret)
{
	static const struct storvsc_client_config defaults;
	const struct storvsc_client_config *c = cfg ? cfg : &defaults;
	const uint16_t *versions = c->versions ? c->versions : linux_versions;
	unsigned nversions = c->versions ? c->nversions : ARRAY_SIZE(linux_versions);
	unsigned pages = c->ring_pages ? c->ring_pages : 32,
		 tmo = c->timeout_ms ? c->timeout_ms : 5000;
	struct storvsc_client *sc = calloc(1, sizeof(*sc));
	struct vstor_packet p;
	unsigned i, nsub;
	int r;

	if (!sc)
		return -ENOMEM;
	sc->vc = vc;
	r = vmbus_client_open(vc, offer, pages, pages, 0, &sc->ch[0].vch);
	if (r != 0) {
		free(sc);
		return r < 0 ? r : -EPROTO;
	}
	sc->ch[0].sc = sc;
	sc->nch = 1;
	memset(&p, 0, sizeof(p));
	r = step(&sc->ch[0], VSTOR_OPERATION_BEGIN_INITIALIZATION, &p, tmo);
	if (r < 0 || p.status)
		goto fail;
	for (i = 0; i < nversions; i++) {
		memset(&p, 0, sizeof(p));
		p.version.major_minor = versions[i];
		r = step(&sc->ch[0], VSTOR_OPERATION_QUERY_PROTOCOL_VERSION, &p, tmo);
		if (r < 0)
			goto fail;
		if (p.status == 0) {
			sc->version = versions[i];
			break;
		}
	}
	if (!sc->version)
		goto fail;
	memset(&p, 0, sizeof(p));
	r = step(&sc->ch[0], VSTOR_OPERATION_QUERY_PROPERTIES, &p, tmo);
	if (r < 0 || p.status)
		goto fail;
	sc->props = p.properties;
	memset(&p, 0, sizeof(p));
	r = step(&sc->ch[0], VSTOR_OPERATION_END_INITIALIZATION, &p, tmo);
	if (r < 0 || p.status)
		goto fail;
	nsub = MIN(c->subchannels, (unsigned)sc->props.max_channel_cnt);
	if (!(sc->props.flags & STORAGE_CHANNEL_SUPPORTS_MULTI_CHANNEL))
		nsub = 0;
	nsub = MIN(nsub, 63u);
	if (nsub) {
		memset(&p, 0, sizeof(p));
		p.sub_channel_count = (uint16_t)nsub;
		r = step(&sc->ch[0], VSTOR_OPERATION_CREATE_SUB_CHANNELS, &p, tmo);
		if (r < 0 || p.status)
			goto fail;
		r = open_subchannels(sc, offer, nsub, pages, tmo);
		if (r < 0)
			goto fail;
	}
	*ret = sc;
	return 0;
fail:
	storvsc_client_close(sc);
	return r < 0 ? r : -EPROTO;
}

void storvsc_client_close(struct storvsc_client *sc)
{
	unsigned i;

	if (!sc)
		return;
	for (i = sc->nch; i-- > 0;)
		if (vmbus_client_close(sc->ch[i].vch) < 0) {
			/* the host is gone: nothing to tell it */
		}
	free(sc);
}

void storvsc_client_forget(struct storvsc_client *sc)
{
	unsigned i;

	if (!sc)
		return;
	for (i = 0; i < sc->nch; i++)
		vmbus_client_channel_forget(sc->ch[i].vch);
	free(sc);
}

uint16_t storvsc_client_version(const struct storvsc_client *sc)
{
	return sc->version;
}

const struct vmstorage_channel_properties *
storvsc_client_properties(const struct storvsc_client *sc)
{
	return &sc->props;
}

unsigned storvsc_client_channel_count(const struct storvsc_client *sc)
{
	return sc->nch;
}

struct storvsc_channel *storvsc_client_channel(struct storvsc_client *sc, unsigned i)
{
	return i < sc->nch ? &sc->ch[i] : NULL;
}

struct vmbus_client_channel *storvsc_channel_vmbus(struct storvsc_channel *ch)
{
	return ch->vch;
}

int storvsc_channel_submit(struct storvsc_channel *ch, const struct storvsc_request *rq)
{
	struct vstor_packet p = {0};
	uint64_t pfns[STORVSC_CLIENT_MAX_PFNS];
	uint32_t off = (uint32_t)(rq->buf_gpa % VSTOR_PAGE_SIZE);
	unsigned npfn, i;

	if (rq->cdb_len > 16)
		return -EINVAL;
	p.operation = VSTOR_OPERATION_EXECUTE_SRB;
	p.flags = VSTOR_REQUEST_COMPLETION_FLAG;
	p.srb.length = sizeof(p.srb);
	p.srb.path_id = rq->path;
	p.srb.target_id = rq->target;
	p.srb.lun = rq->lun;
	p.srb.cdb_length = (uint8_t)rq->cdb_len;
	p.srb.sense_info_length = VSTOR_SENSE_LEN;
	memcpy(p.srb.cdb_or_sense, rq->cdb, rq->cdb_len);
	p.srb.data_transfer_length = rq->len;
	p.srb.queue_tag = 0xff;
	p.srb.queue_action = 0x20;
	p.srb.time_out_value = 60;
	p.srb.srb_flags = SRB_FLAGS_DISABLE_SYNCH_TRANSFER | SRB_FLAGS_QUEUE_ACTION_ENABLE |
			  SRB_FLAGS_NO_QUEUE_FREEZE;
	if (!rq->len) {
		p.srb.data_in = VSTOR_UNKNOWN_TYPE;
		return vmbus_client_send(ch->vch, VMBUS_PKT_DATA_INBAND,
					 VMBUS_PKT_FLAG_COMPLETION_REQUESTED, rq->tag + 1, &p,
					 sizeof(p));
	}
	p.srb.data_in = rq->data_in ? VSTOR_READ_TYPE : VSTOR_WRITE_TYPE;
	p.srb.srb_flags |= rq->data_in ? SRB_FLAGS_DATA_IN : SRB_FLAGS_DATA_OUT;
	npfn = (unsigned)((off + (uint64_t)rq->len + VSTOR_PAGE_SIZE - 1) / VSTOR_PAGE_SIZE);
	if (npfn > STORVSC_CLIENT_MAX_PFNS)
		return -EINVAL;
	for (i = 0; i < npfn; i++)
		pfns[i] = rq->buf_gpa / VSTOR_PAGE_SIZE + i;
	return vmbus_client_send_gpa_direct(ch->vch, VMBUS_PKT_FLAG_COMPLETION_REQUESTED,
					    rq->tag + 1, off, rq->len, pfns, npfn, &p, sizeof(p));
}

static int submit_rw(struct storvsc_channel *ch, uint8_t lun, uint64_t lba, uint32_t sectors,
		     uint64_t gpa, uint64_t tag, bool write, bool fua)
{
	struct storvsc_request rq = {
		.lun = lun,
		.buf_gpa = gpa,
		.len = sectors * 512u,
		.data_in = !write,
		.tag = tag,
	};
	unsigned i;

	if (lba > 0xFFFFFFFFu || sectors > 0xFFFF) {
		rq.cdb[0] = write ? 0x8A : 0x88;
		for (i = 0; i < 8; i++)
			rq.cdb[2 + i] = (uint8_t)(lba >> (56 - 8 * i));
		for (i = 0; i < 4; i++)
			rq.cdb[10 + i] = (uint8_t)(sectors >> (24 - 8 * i));
		rq.cdb_len = 16;
	} else {
		rq.cdb[0] = write ? 0x2A : 0x28;
		for (i = 0; i < 4; i++)
			rq.cdb[2 + i] = (uint8_t)(lba >> (24 - 8 * i));
		rq.cdb[7] = (uint8_t)(sectors >> 8);
		rq.cdb[8] = (uint8_t)sectors;
		rq.cdb_len = 10;
	}
	if (fua)
		rq.cdb[1] |= 0x08;
	return storvsc_channel_submit(ch, &rq);
}

int storvsc_channel_submit_read(struct storvsc_channel *ch, uint8_t lun, uint64_t lba,
				uint32_t sectors, uint64_t buf_gpa, uint64_t tag)
{
	return submit_rw(ch, lun, lba, sectors, buf_gpa, tag, false, false);
}

int storvsc_channel_submit_write(struct storvsc_channel *ch, uint8_t lun, uint64_t lba,
				 uint32_t sectors, uint64_t buf_gpa, uint64_t tag, bool fua)
{
	return submit_rw(ch, lun, lba, sectors, buf_gpa, tag, true, fua);
}

int storvsc_channel_poll(struct storvsc_channel *ch, struct storvsc_completion *out, unsigned max,
			 unsigned timeout_ms)
{
	unsigned n = 0;

	while (n < max) {
		struct vmbus_packet_desc d;
		struct vstor_packet in = {0};
		size_t len = sizeof(in);
		int r = n ? vmbus_client_recv(ch->vch, &d, &in, &len)
			  : vmbus_client_recv_wait(ch->vch, &d, &in, &len, timeout_ms);

		if (r == -EAGAIN || r == -ETIMEDOUT)
			break;
		if (r < 0)
			return r;
		if (is_unsolicited(&d, &in, len)) {
			ch->rescans++;
			continue;
		}
		out[n] = (struct storvsc_completion){
			.tag = d.trans_id - 1,
			.status = in.status,
			.srb_status = in.srb.srb_status,
			.scsi_status = in.srb.scsi_status,
			.transferred = in.srb.data_transfer_length,
			.sense_len = MIN(in.srb.sense_info_length, (uint8_t)VSTOR_SENSE_LEN),
		};
		memcpy(out[n].sense, in.srb.cdb_or_sense, VSTOR_SENSE_LEN);
		n++;
	}
	return (int)n;
}

int storvsc_channel_scsi(struct storvsc_channel *ch, const struct storvsc_request *rq,
			 struct storvsc_completion *out, unsigned timeout_ms)
{
	int r = storvsc_channel_submit(ch, rq);

	if (r < 0)
		return r;
	for (;;) {
		r = storvsc_channel_poll(ch, out, 1, timeout_ms);
		if (r < 0)
			return r;
		if (r == 0)
			return -ETIMEDOUT;
		if (out->tag == rq->tag)
			return 0;
	}
}

unsigned storvsc_channel_rescans(const struct storvsc_channel *ch)
{
	return ch->rescans;
}
