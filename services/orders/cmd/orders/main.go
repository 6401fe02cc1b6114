// Command orders runs the orders service.
package main

import (
	"ticketing/common/service"
	"ticketing/services/orders"
)

func main() { service.Main(orders.Name, orders.LoadConfig, orders.Run) }
