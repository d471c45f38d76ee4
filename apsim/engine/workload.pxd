import cython
from cpython.list cimport PyList_GET_ITEM
from apsim.engine.core cimport VcpuGate, apsim_prefetch
from apsim.engine.firmware cimport nqap_queue, dqap_queue
from apsim.engine.calendar cimport Calendar
from apsim.engine.request cimport Request, new_request
from apsim.engine.queue cimport APQueue
from apsim.engine.config cimport APConfiguration
from apsim.engine.rows cimport RowBuffer
from apsim.engine.simpy_internals cimport clock
from apsim.engine.targets cimport Target, _LLGroup
from apsim.engine.control cimport WorkloadControl

cdef bint _COMPILED
cdef long long _SEQ_MASK

cdef class Workload(WorkloadControl):
    # Field order is struct order. With a thousand issuers each workload is visited
    # once per thousand requests, long after its lines left the L1 cache, so what an
    # arrival and a pickup read comes first, in as few lines as possible; the block
    # views (208 bytes each, only their first words read) follow; the rest is cold.
    cdef public bint running
    cdef public bint _rr
    cdef public bint _w1
    cdef public bint _poisson
    cdef public bint _pollable
    cdef public bint polling
    cdef public bint _closed
    cdef public bint _always_ready
    cdef public long long seq
    cdef public long long _ti
    cdef public long long _gi
    cdef public long long rr
    cdef public long long prefetch_min
    cdef public long long owner
    cdef public long long dqap_ns
    cdef public long long completed
    cdef public long long _types_n
    cdef public long long _gaps_n
    cdef public long long _next_at
    cdef public long long _rt1
    cdef public tuple _arr_cbs
    cdef public list _active
    cdef public list _groups
    cdef public APConfiguration _link_cfg
    cdef public RowBuffer _rows
    cdef public long long[::1] _types_b
    cdef public long long[::1] _gaps_b
    cdef public long long[::1] _len_tab
    cdef public VcpuGate _gate
    cdef public object _ready_at
    cdef public dict _lengths
    cdef public dict _tgt
    cdef public double[::1] _uni
    cdef public long long _ui
    cdef public object spec
    cdef public object port
    cdef public object recorder
    cdef public object rng
    cdef public object weight_of
    cdef public list targets
    cdef public object stalled
    cdef public long long dropped
    cdef public long long rejected
    cdef public long long einval
    cdef public object request_timer
    cdef public list last_rejections
    cdef public list foreign_replies
    cdef public object _mix_idx
    cdef public object _mix_p
    cdef public object _mix_cdf
    cdef public dict _ll_rt_pos
    cdef dict __dict__

    cpdef _arrive(self, ev)

    @cython.locals(gi=cython.longlong, at=cython.longlong)
    cdef _schedule_arrival(self, long long now)

    @cython.locals(seq=cython.longlong, rt=cython.int, owner=cython.longlong, req=Request, ti=cython.longlong)
    cdef _new_request(self, long long now)

    @cython.locals(active=list, groups=list, rr=cython.longlong, ui=cython.longlong, t=Target,
                   best=Target)
    cdef Target _select_target(self, int rt)

    cdef _charge(self, Target tg, int rt)
    cdef _discharge(self, Target tg, int rt, bint sent)
    cdef _ll_update(self, Target t)

    @cython.locals(rt=cython.int, tg=Target)
    cdef _dispatch(self, Request req, long long now)

    @cython.locals(ready=cython.longlong, rc=cython.int)
    cdef _enqueue(self, Target tg, Request req, long long now)

    @cython.locals(cfg=APConfiguration)
    cdef int _nqap(self, Target tg, Request req, long long now) except? -1

    cdef _relink(self, Target tg, APConfiguration cfg)

    cdef _finish(self, long long now)
    cdef _release(self, Target tg, int rt, long long now)

    @cython.locals(req=Request, now=cython.longlong, k=cython.longlong, lq=APQueue, rq=APQueue, rc=cython.int, more=bint, cfg=APConfiguration, dq=cython.longlong, apqn=cython.int, owner=cython.longlong, rows=RowBuffer)
    cdef _take_replies(self, Target tg, long long now)

    cpdef _drain_target(self, Target tg, _queue=*)

    cpdef long long _ready(self, long long now) except? -1

    @cython.locals(n=Py_ssize_t, i=Py_ssize_t, p=cython.p_void)
    cdef void _prefetch_rr(self, list active, Py_ssize_t rr) noexcept
