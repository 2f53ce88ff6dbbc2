package main

import "github.com/orderflow/orderflow/cmd/internal/service"

func main() { service.Main(NewMain) }
