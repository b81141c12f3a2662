// Command sluice is the Sluice load balancer.
package main

func main() {}
