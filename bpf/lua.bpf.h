/* LuaJIT stack walk for the dwarf sampler (--lua), included by
 * bpf/profile_dwarf.bpf.c. Design and offsets: docs/lua.md.
 *
 * For a sampled thread of a process in `lua_procs` (record/ identified its
 * VM), finds the VM's global_State G (r14 - GG_G2DISP, else the last G seen,
 * accepted only if G->cur_L->glref == G), skips samples where the VM is not
 * running Lua (stale cur_L), picks the frame base and the leaf PC, and walks the
 * frame links of G->cur_L down to its stack bottom, hopping over a
 * coroutine.resume into the resumer. Only raw values leave: proto / C function
 * pointers, PCs, fast-function ids, link types. Every read is checked; an
 * inconsistent frame stops the walk and flags it (EBT_LUA_F_BAD).
 */
#ifndef EBTRACE_BPF_LUA_BPF_H
#define EBTRACE_BPF_LUA_BPF_H

#include "bpf/maps.bpf.h"

const volatile __u8 lua_enabled = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EBT_LUA_MAX_PROCS);
	__type(key, __u32); /* tgid */
	__type(value, struct ebt_lua_config);
} lua_procs SEC(".maps");

struct lua_buf {
	struct ebt_lua_stack s;
	struct ebt_lua_frame frames[EBT_LUA_MAX_FRAMES];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lua_buf);
} lua_scratch SEC(".maps");

#define LJ_GCVMASK 0x7fffffffffffULL
#define LJ_FUNC_TAG 0x1fff7ULL   /* itype of a function TValue >> 47 (GC64) */
#define LJ_GCT_FUNC 8
#define LJ_GCT_PROTO 7
#define LJ_MAX_HOPS 2

static __always_inline __u64 lj_u64(__u64 addr, int *bad)
{
	__u64 v = 0;
	if (bpf_probe_read_user(&v, sizeof(v), (void *)addr))
		*bad = 1;
	return v;
}

static __always_inline __u32 lj_u32(__u64 addr, int *bad)
{
	__u32 v = 0;
	if (bpf_probe_read_user(&v, sizeof(v), (void *)addr))
		*bad = 1;
	return v;
}

/* A GCRef / MRef: 64-bit in GC64, 32-bit otherwise. */
static __always_inline __u64 lj_ref(const struct ebt_lua_config *c, __u64 addr, int *bad)
{
	return c->gc64 ? lj_u64(addr, bad) : lj_u32(addr, bad);
}

/* G if it is a live global_State whose running coroutine points back at it. */
static __always_inline __u64 lj_check_g(const struct ebt_lua_config *c, __u64 g, __u64 *l)
{
	int bad = 0;
	__u64 cur;

	if (g < 4096)
		return 0;
	cur = lj_ref(c, g + c->g_cur_l, &bad);
	if (bad || cur < 4096 || lj_ref(c, cur + c->l_glref, &bad) != g || bad)
		return 0;
	*l = cur;
	return g;
}

/* G from the words above the user sp: DISPATCH is r14 in the VM, so a C
 * function the VM called (and everything it calls) either keeps it in r14 or
 * saves it on the stack before using r14 (callee-saved). Used when r14 is not
 * DISPATCH and no G is known yet for the process (a thread seen first while
 * blocked in a C or FFI call); the G found is kept (ebt_lua_config.g). */
#define LJ_SCAN_WORDS 128

struct lj_scan {
	const struct ebt_lua_config *c;
	__u64 sp, g, l;
};

static long lj_scan_step(__u32 index, void *ctx)
{
	struct lj_scan *s = ctx;
	__u64 w = 0;

	if (bpf_probe_read_user(&w, sizeof(w), (void *)(s->sp + index * 8)))
		return 1;
	if (w <= s->c->g2disp || w >= (1ULL << 47) || ((w - s->c->g2disp) & 7))
		return 0;
	s->g = lj_check_g(s->c, w - s->c->g2disp, &s->l);
	return s->g ? 1 : 0;
}

struct lj_walk {
	struct ebt_lua_config c; /* a copy: the loop callback reads only its context */
	__u64 g, frame, bottom, top, l, prev_link, pc;
	__u32 n, flags;          /* flags: EBT_LUA_F_* once the walk ended */
	__u8 skip, resumed, hops, pad[5];
};

#define LJ_STOP(fl) do { w->flags = (fl); return 1; } while (0)

/* One step of the walk (a bpf_loop callback: verified once, run up to
 * EBT_LUA_MAX_FRAMES + 8 times): the bottom hop, or one frame. */
static long lj_step(__u32 index, void *ctx)
{
	struct lj_walk *w = ctx;
	const struct ebt_lua_config *c = &w->c;
	__u32 slot = c->gc64 ? 8 : 0, zero = 0;
	struct lua_buf *b;
	int bad = 0;
	__u64 link, func, v;
	__u32 hdr;
	__u8 kind = 0;

	if (w->frame <= w->bottom) {
		/* Bottom of this coroutine: coroutine.resume called from Lua entered
		 * it through a C frame pushed right below the resumer's (vm_resume):
		 * outermost cframe + CFRAME_SIZE. */
		__u64 cf, prev, rcf, l2;
		if (w->hops >= LJ_MAX_HOPS)
			LJ_STOP(EBT_LUA_F_BOTTOM);
		cf = lj_u64(w->l + c->l_cframe, &bad) & ~3ULL;
		for (int j = 0; j < 4 && cf; j++) {
			prev = lj_u64(cf + c->cf_prev, &bad) & ~3ULL;
			if (!prev || bad)
				break;
			cf = prev;
		}
		if (!cf || bad)
			LJ_STOP(EBT_LUA_F_BOTTOM);
		rcf = cf + c->cf_size;
		l2 = lj_ref(c, rcf + c->cf_l, &bad);
		if (bad || l2 < 4096 || l2 == w->l || lj_ref(c, l2 + c->l_glref, &bad) != w->g ||
		    (lj_u64(l2 + c->l_cframe, &bad) & ~3ULL) != rcf || bad)
			LJ_STOP(EBT_LUA_F_BOTTOM);
		w->hops++;
		w->l = l2;
		w->frame = lj_u64(l2 + c->l_base, &bad) - 8;
		w->bottom = lj_ref(c, l2 + c->l_stack, &bad) + slot;
		w->top = lj_ref(c, l2 + c->l_maxstack, &bad);
		if (bad)
			LJ_STOP(EBT_LUA_F_BOTTOM);
		w->prev_link = 0;
		w->pc = 0;
		w->resumed = 1;
		return 0;
	}
	if (w->frame >= w->top)
		LJ_STOP(EBT_LUA_F_BAD);
	if (w->n >= EBT_LUA_MAX_FRAMES)
		LJ_STOP(EBT_LUA_F_TRUNCATED);

	if (c->gc64) {
		__u64 raw = lj_u64(w->frame - 8, &bad);
		link = lj_u64(w->frame, &bad);
		func = raw & LJ_GCVMASK;
		if (!bad && (raw >> 47) != LJ_FUNC_TAG && func != w->l)
			LJ_STOP(EBT_LUA_F_BAD);
	} else {
		v = lj_u64(w->frame, &bad);
		func = (__u32)v;
		link = v >> 32;
	}
	if (bad)
		LJ_STOP(EBT_LUA_F_BAD);

	if (func != w->l && !w->skip) { /* func == L: a dummy frame, not shown */
		struct ebt_lua_frame *f;
		__u32 n = w->n;

		hdr = lj_u32(func + c->gc_marked, &bad); /* marked, gct, ffid, nupvalues */
		if (bad || ((hdr >> 8) & 0xff) != LJ_GCT_FUNC)
			LJ_STOP(EBT_LUA_F_BAD);
		b = bpf_map_lookup_elem(&lua_scratch, &zero);
		if (!b || n >= EBT_LUA_MAX_FRAMES)
			LJ_STOP(EBT_LUA_F_TRUNCATED);
		f = &b->frames[n];
		f->fp = 0;
		f->pc = 0;
		f->flags = w->resumed ? EBT_LUA_FRAME_F_RESUMED : 0;
		f->pad = 0;
		w->resumed = 0;
		switch ((hdr >> 16) & 0xff) {
		case 0: {
			__u64 proto = lj_ref(c, func + c->fn_pc, &bad) - c->pt_size;
			__u64 fp[2] = {};
			if (bad || ((lj_u32(proto + c->gc_marked, &bad) >> 8) & 0xff) != LJ_GCT_PROTO)
				LJ_STOP(EBT_LUA_F_BAD);
			if (bpf_probe_read_user(fp, sizeof(fp), (void *)(proto + c->pt_chunkname)))
				LJ_STOP(EBT_LUA_F_BAD);
			fp[0] ^= fp[1] * 0x9e3779b97f4a7c15ULL;
			f->fp = (__u32)(fp[0] ^ (fp[0] >> 32));
			f->obj = proto;
			/* The leaf's own PC, else the return PC its callee's link holds. */
			f->pc = n == 0 ? w->pc : ((w->prev_link & 3) == 0 ? w->prev_link : 0);
			kind = EBT_LUA_FRAME_LUA;
			break;
		}
		case 1:
			f->obj = lj_u64(func + c->fn_f, &bad);
			kind = EBT_LUA_FRAME_C;
			break;
		default:
			f->obj = (hdr >> 16) & 0xff;
			kind = EBT_LUA_FRAME_FAST;
			break;
		}
		if (bad)
			LJ_STOP(EBT_LUA_F_BAD);
		f->kind = kind;
		f->link_type = link & 7;
		w->n = n + 1;
	}
	if (w->skip) {
		/* The original frame of a vararg call: its link is the real one
		 * (who called the function: Lua, or C through lua_call/pcall). */
		__u32 last = w->n - 1;
		b = bpf_map_lookup_elem(&lua_scratch, &zero);
		if (b && last < EBT_LUA_MAX_FRAMES)
			b->frames[last].link_type = link & 7;
	}
	w->skip = 0;
	w->prev_link = link;
	if ((link & 7) == 2) {
		/* FRAME_CONT (a metamethod, or a C function called through trace
		 * stitching): the caller's PC is saved in the slot below the
		 * function (GC64), or in the high word of the function slot. */
		int cbad = 0;
		w->prev_link = c->gc64 ? lj_u64(w->frame - 16, &cbad) : lj_u32(w->frame - 4, &cbad);
		if (cbad || (w->prev_link & 3))
			w->prev_link = 1; /* unknown: not a Lua PC */
	}

	/* Step to the caller's frame. */
	if ((link & 3) == 0) {
		__u32 ins = lj_u32(link - 4, &bad); /* the CALL that made this frame */
		if (bad)
			LJ_STOP(EBT_LUA_F_BAD);
		w->frame -= (1 + (c->gc64 ? 1 : 0) + ((ins >> 8) & 0xff)) * 8;
	} else {
		__u64 delta = link & ~7ULL;
		if (delta == 0 || delta > (1ULL << 30))
			LJ_STOP(EBT_LUA_F_BAD);
		/* A vararg pseudo-frame: its original frame (the same function, delta
		 * below) is not shown again, but its link leads on. */
		if ((link & 7) == 3)
			w->skip = 1;
		w->frame -= delta;
	}
	return 0;
}

/* Walks the Lua stack of the current thread (of process `tgid`), from the
 * user registers ip, r14, rdx, rbx, into this CPU's lua_scratch, and returns it
 * with every field but the event header set; NULL when the process has no
 * identified VM, the VM is not found, or it is not running Lua. `oncpu`: count
 * the walk in the process's sample counters (on-CPU samples only). */
static __always_inline struct lua_buf *ebt_lua_walk(__u32 tgid, __u64 ip, __u64 sp, __u64 r14, __u64 rdx,
						    __u64 rbx, int oncpu)
{
	struct ebt_lua_config *c;
	struct lua_buf *b;
	struct lj_walk w;
	__u32 zero = 0, flags = 0;
	__u64 g = 0, l = 0, cf;
	__s32 vmstate;
	int bad = 0;

	if (!lua_enabled)
		return NULL;
	c = bpf_map_lookup_elem(&lua_procs, &tgid);
	if (!c)
		return NULL;
	if (oncpu)
		__sync_fetch_and_add(&c->samples, 1);
	/* In interpreter (and GC64 trace) code r14 is DISPATCH; elsewhere it may be
	 * anything, and the check rejects it. */
	if (r14 > c->g2disp)
		g = lj_check_g(c, r14 - c->g2disp, &l);
	if (!g && c->g)
		g = lj_check_g(c, c->g, &l);
	if (!g && sp) {
		struct lj_scan s = {.c = c, .sp = sp};
		bpf_loop(LJ_SCAN_WORDS, lj_scan_step, &s, 0);
		g = s.g;
		l = s.l;
	}
	if (!g) {
		if (oncpu)
			__sync_fetch_and_add(&c->no_g, 1);
		return NULL;
	}
	if (g != c->g)
		c->g = g;

	vmstate = (__s32)lj_u32(g + c->g_vmstate, &bad);
	cf = lj_u64(l + c->l_cframe, &bad);
	if (bad)
		return NULL;
	if ((vmstate == -1 || vmstate == -2) && cf == 0) {
		if (oncpu)
			__sync_fetch_and_add(&c->idle, 1);
		return NULL;
	}
	b = bpf_map_lookup_elem(&lua_scratch, &zero);
	if (!b)
		return NULL;

	__builtin_memset(&w, 0, sizeof(w));
	w.c = *c;
	w.g = g;
	w.l = l;
	w.bottom = lj_ref(c, l + c->l_stack, &bad) + (c->gc64 ? 8 : 0);
	w.top = lj_ref(c, l + c->l_maxstack, &bad);
	if (vmstate >= 0 || vmstate == -3) {
		__u64 jb = lj_ref(c, g + c->g_jit_base, &bad);
		if (jb) {
			w.frame = jb - 8;
			flags |= EBT_LUA_F_JIT_BASE;
		}
	}
	if (!(flags & EBT_LUA_F_JIT_BASE)) {
		if (ip >= c->interp_start && ip < c->interp_end) {
			w.frame = rdx - 8;
			w.pc = rbx;
			flags |= EBT_LUA_F_INTERP;
		} else {
			w.frame = lj_u64(l + c->l_base, &bad) - 8;
			if (cf & ~3ULL)
				w.pc = lj_ref(c, (cf & ~3ULL) + c->cf_pc, &bad);
		}
	}
	if (bad)
		return NULL;
	bpf_loop(EBT_LUA_MAX_FRAMES + 8, lj_step, &w, 0);
	flags |= w.flags ? w.flags : EBT_LUA_F_TRUNCATED;
	/* the callback may have stored frames through its own lookup of b */

	if (w.n > EBT_LUA_MAX_FRAMES)
		return NULL;
	b->s.g = g;
	b->s.l = l;
	b->s.cframe = cf;
	b->s.vmstate = vmstate;
	b->s.flags = flags;
	b->s.pad = 0;
	b->s.nframes = w.n;
	return b;
}

/* The event header of a Lua stack that belongs to the event `sh` (same time
 * and tid: record/ pairs them), which is sent right after it. */
static __always_inline void ebt_lua_header(struct lua_buf *b, const struct ebt_event_header *sh)
{
	__u32 n = b->s.nframes;

	if (n > EBT_LUA_MAX_FRAMES)
		n = EBT_LUA_MAX_FRAMES;
	b->s.h = *sh;
	b->s.h.kind = EBT_EV_LUA_STACK;
	b->s.h.flags = 0;
	b->s.h.size = sizeof(b->s) + n * sizeof(struct ebt_lua_frame);
}

/* Sends the Lua stack of the sampled thread, if it runs Lua, as an
 * EBT_EV_LUA_STACK with the time and tid of the sample `sh` (sent after it). */
static __always_inline void ebt_lua_sample(__u32 tgid, const struct ebt_event_header *sh, __u64 ip,
					   __u64 sp, __u64 r14, __u64 rdx, __u64 rbx)
{
	struct lua_buf *b = ebt_lua_walk(tgid, ip, sp, r14, rdx, rbx, 1);

	if (!b)
		return;
	ebt_lua_header(b, sh);
	ebt_output(b, b->s.h.size, sizeof(*b));
}

#endif /* EBTRACE_BPF_LUA_BPF_H */
