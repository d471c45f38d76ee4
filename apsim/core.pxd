cdef class Hook:
    cdef public object callbacks
