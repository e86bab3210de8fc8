-- description = "Every reading, converted to Fahrenheit, republished under converted/<room>"
--
-- [[action]]
-- type = "republish"
-- topic = "converted/${topic(2)}"
SELECT temperature * 9 / 5 + 32 AS fahrenheit, timestamp() AS ts FROM 'sensors/+/data'
