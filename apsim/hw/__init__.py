"""The AP hardware: Crypto Express adapters, their engines and AP queues, the
machine (CEC) with its LPARs, the Support Element and SCLP, and the three AP
instructions (NQAP, DQAP, PQAP) with their condition codes, status words and
response codes."""
