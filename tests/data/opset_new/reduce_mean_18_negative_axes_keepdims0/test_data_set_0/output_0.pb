ByJmq?
Á€¿Z{¾