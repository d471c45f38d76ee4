import cython
from apsim.engine.queue cimport APQueue
from apsim.engine.request cimport Request
from apsim.engine.adapter cimport Adapter
from apsim.engine.config cimport APConfiguration
