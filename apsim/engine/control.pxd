from apsim.engine.request cimport Request
from apsim.engine.targets cimport Driver, Target

cdef class WorkloadControl(Driver):
    cdef _schedule_arrival(self, long long now)
    cdef _new_request(self, long long now)
    cdef _discharge(self, Target tg, int rt, bint sent)
    cdef _dispatch(self, Request req, long long now)
    cdef _enqueue(self, Target tg, Request req, long long now)
