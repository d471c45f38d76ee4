import cython
from apsim.engine.queue cimport APQueue
from apsim.engine.request cimport Request
from apsim.engine.adapter cimport Adapter
from apsim.engine.config cimport APConfiguration
from apsim.engine.simpy_internals cimport clock

@cython.locals(adapter=Adapter, rt=cython.int)
cpdef int nqap_queue(APConfiguration config, APQueue q, Request req, long long now=*) except? -1

cdef int _refused(APQueue q, object rc) except? -1

@cython.locals(req=Request)
cpdef tuple dqap_queue(APQueue q, long long now=*)
