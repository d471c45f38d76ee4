# The clock is read on every step of the request path: C calls in the compiled form.
cpdef object clock(object env)

cpdef object set_clock(object env, object t)
