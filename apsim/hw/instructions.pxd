import cython
from apsim.hw.queue cimport APQueue
from apsim.hw.request cimport Request
from apsim.hw.adapter cimport Adapter
from apsim.hw.config cimport APConfiguration
