cdef class APConfiguration:
    cdef public object name
    cdef public object lpar
    cdef public object apm
    cdef public object aqm
    cdef public object adm
    cdef public object na
    cdef public object nd
    cdef public object apxa
    cdef public object facilities
    cdef public bint secure
    cdef public object table
    cdef public long long generation
    cdef public object se_secrets
    cdef public object se_bind_limit
    cdef public object se_bound
    cdef public object dependents
    cdef object __weakref__
