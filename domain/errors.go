package domain

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrInsufficientStock means a reservation asked for more units than can be ordered now.
	ErrInsufficientStock = errors.New("insufficient stock")
	// ErrIllegalTransition means an order was asked to move to a status its current one does not lead to.
	ErrIllegalTransition = errors.New("illegal transition")
)

// FieldError names one input field that breaks a rule, using the API's field names.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every field of one request that breaks a rule, so a
// client can fix them all at once.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "validation failed: " + strings.Join(parts, "; ")
}

// add records a failing field; format follows fmt.Sprintf.
func (e *ValidationError) add(field, format string, args ...any) {
	e.Fields = append(e.Fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// errOrNil returns e when it holds failures, so callers can write `return v.errOrNil()`.
func (e *ValidationError) errOrNil() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// IllegalTransitionError tells which status refused which transition.
type IllegalTransitionError struct {
	From   OrderStatus
	Action string
}

func (e *IllegalTransitionError) Error() string {
	return fmt.Sprintf("cannot %s an order that is %s", e.Action, e.From)
}

func (e *IllegalTransitionError) Unwrap() error { return ErrIllegalTransition }

// InsufficientStockError tells which product could not cover a reservation.
type InsufficientStockError struct {
	ProductID string
	Requested int64
	Available int64
}

func (e *InsufficientStockError) Error() string {
	return fmt.Sprintf("product %s: %d requested, %d available", e.ProductID, e.Requested, e.Available)
}

func (e *InsufficientStockError) Unwrap() error { return ErrInsufficientStock }
